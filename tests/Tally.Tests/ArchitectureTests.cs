using ArchUnitNET.Domain;
using ArchUnitNET.Loader;
using Xunit.Abstractions;

namespace Tally.Tests;

/// <summary>
/// The layering the README's layout section states, checked on the compiled code (every type reference, including
/// those inside method bodies and lambdas): namespaces form no cycle, the core depends on nothing else in Tally, and
/// the command line reaches algorithms only through the application layer.
/// </summary>
public sealed class ArchitectureTests(ITestOutputHelper output)
{
    private static readonly Lazy<Architecture> Arch = new(() => new ArchLoader()
        .LoadAssemblies(typeof(Tally.Core.LabelMatrix).Assembly, typeof(Tally.Cli.Program).Assembly, typeof(Tally.Server.ServerHost).Assembly).Build());

    /// <summary>Namespace → namespaces it references (Tally namespaces only; nested namespaces are their own nodes).</summary>
    internal static SortedDictionary<string, SortedSet<string>> NamespaceGraph() => NamespaceGraph(out _);

    /// <summary>The graph, and for each edge "A → B" one type of A and the type of B it uses (to say why the edge exists).</summary>
    internal static SortedDictionary<string, SortedSet<string>> NamespaceGraph(out Dictionary<string, string> why)
    {
        why = new Dictionary<string, string>(StringComparer.Ordinal);
        var graph = new SortedDictionary<string, SortedSet<string>>(StringComparer.Ordinal);
        foreach (var type in Arch.Value.Types)
        {
            string from = type.Namespace?.FullName ?? "";
            if (!from.StartsWith("Tally", StringComparison.Ordinal)) continue;
            if (!graph.TryGetValue(from, out var set)) graph[from] = set = new SortedSet<string>(StringComparer.Ordinal);
            foreach (var d in type.Dependencies)
            {
                string to = d.Target?.Namespace?.FullName ?? "";
                if (d.Target is GenericParameter || to == from || !to.StartsWith("Tally", StringComparison.Ordinal)) continue;
                set.Add(to);
                why.TryAdd($"{from} → {to}", $"{type.Name} uses {d.Target!.Name}");
            }
        }
        return graph;
    }

    [Fact]
    public void Namespaces_form_no_cycle()
    {
        var graph = NamespaceGraph(out var why);
        foreach (var (from, to) in graph) output.WriteLine($"{from} → {string.Join(", ", to)}");
        var cyclic = StronglyConnected(graph).Where(c => c.Count > 1).SelectMany(c => c).ToHashSet();
        foreach (var (edge, reason) in why.OrderBy(e => e.Key, StringComparer.Ordinal))
            if (cyclic.Contains(edge.Split(" → ")[0]) && cyclic.Contains(edge.Split(" → ")[1])) output.WriteLine($"  {edge}: {reason}");
        var cycles = StronglyConnected(graph).Where(c => c.Count > 1).Select(c => string.Join(" ⇄ ", c)).ToList();
        Assert.True(cycles.Count == 0, "namespace cycles: " + string.Join("; ", cycles));
    }

    private static bool InCore(string ns) => ns == "Tally.Core" || ns.StartsWith("Tally.Core.", StringComparison.Ordinal);

    [Fact]
    public void Core_depends_on_no_other_Tally_namespace()
    {
        var graph = NamespaceGraph(out var why);
        var offending = graph.Where(e => InCore(e.Key))
            .SelectMany(e => e.Value.Where(to => !InCore(to)).Select(to => $"{e.Key} → {to} ({why[$"{e.Key} → {to}"]})"))
            .ToList();
        foreach (var o in offending) output.WriteLine(o);
        Assert.True(offending.Count == 0, "the core references other Tally namespaces:\n  " + string.Join("\n  ", offending));
    }

    private static readonly System.Type[] AlgorithmInterfaces =
    [
        typeof(Tally.Aggregation.IAggregator), typeof(Tally.Aggregation.Numeric.INumericAggregator), typeof(Tally.Mechanisms.IPeerPredictionMechanism), typeof(Tally.Learning.ICrowdLearner),
        typeof(Tally.Learning.IClassifier), typeof(Tally.Mechanisms.Reputation.IReputationModel),
        typeof(Tally.Aggregation.Pairwise.IPairwiseAggregator),
    ];

    private static bool IsRecord(System.Type t) => t.GetMethod("<Clone>$") is not null || t.IsValueType;

    /// <summary>
    /// The library types the command line must not use directly, with the reason: the algorithm interfaces and every
    /// type implementing one (aggregators, mechanisms, learners, classifiers, reputation models); the simulators, labs and
    /// sweeps (every class of <c>Tally.Simulation</c> that is not a scenario or result record, and any *Lab, *Sweep,
    /// *Simulator or *Mechanism class elsewhere, such as the data-sharing mechanism and its lab). Options and result records,
    /// enums, the catalogs, the core and the application layer stay allowed.
    /// </summary>
    internal static Dictionary<string, string> ForbiddenForCli()
    {
        var forbidden = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var t in typeof(Tally.Core.LabelMatrix).Assembly.GetTypes())
        {
            if (t.FullName is not { } name || t.IsEnum || typeof(Delegate).IsAssignableFrom(t)) continue;
            name = name.Replace('+', '/');
            if (AlgorithmInterfaces.Contains(t)) forbidden[name] = "an algorithm interface";
            else if (!t.IsInterface && AlgorithmInterfaces.FirstOrDefault(i => i.IsAssignableFrom(t)) is { } i)
                forbidden[name] = "implements " + i.Name;
            else if (t.IsNested || IsRecord(t) || t.IsInterface) continue;
            else if (t.Namespace == "Tally.Simulation") forbidden[name] = "a simulator, lab or generative model of Tally.Simulation";
            else if (new[] { "Lab", "Sweep", "Simulator", "Mechanism" }.Any(x => t.Name.EndsWith(x, StringComparison.Ordinal)))
                forbidden[name] = "a lab, simulator or mechanism";
        }
        return forbidden;
    }

    /// <summary>Every reference from a CLI type to a type of <see cref="ForbiddenForCli"/>: (outermost CLI type, description).</summary>
    internal static List<(string CliType, string Reference)> CliAlgorithmReferences()
    {
        var forbidden = ForbiddenForCli();
        var found = new SortedSet<(string, string)>();
        foreach (var type in Arch.Value.Types)
        {
            string ns = type.Namespace?.FullName ?? "";
            // Both front ends: the command line and the service.
            bool frontEnd = ns is "Tally.Cli" or "Tally.Server" || ns.StartsWith("Tally.Cli.", StringComparison.Ordinal) || ns.StartsWith("Tally.Server.", StringComparison.Ordinal);
            if (!frontEnd) continue;
            string outer = type.FullName[(ns.Length + 1)..].Split('+', '/')[0];
            foreach (var d in type.Dependencies)
            {
                if (d.Target is null || d.Target is GenericParameter) continue;
                string target = d.Target.FullName.Replace('+', '/');
                int generic = target.IndexOf('<');
                if (generic >= 0) target = target[..generic];
                if (forbidden.TryGetValue(target, out var reason))
                    found.Add((outer, $"{type.Name} uses {d.Target.FullName} ({reason})"));
            }
        }
        return found.ToList();
    }

    [Fact]
    public void Cli_reaches_algorithms_only_through_the_application_layer()
    {
        var offending = CliAlgorithmReferences().Select(r => $"{r.CliType}: {r.Reference}").ToList();
        foreach (var o in offending) output.WriteLine("OFFENDING: " + o);
        Assert.True(offending.Count == 0,
            "the command line uses algorithms directly (go through a Tally.Application job):\n  " + string.Join("\n  ", offending));
    }

    [Fact]
    public void The_cli_rule_forbids_algorithms_and_allows_options_and_results()
    {
        var forbidden = ForbiddenForCli();
        foreach (var t in new[]
        {
            typeof(Tally.Aggregation.DawidSkene), typeof(Tally.Aggregation.IAggregator), typeof(Tally.Robust.RobustDawidSkene),
            typeof(Tally.Mechanisms.CorrelatedAgreement), typeof(Tally.Mechanisms.Reputation.TermReputation),
            typeof(Tally.Sharing.CollaborativeMeanMechanism), typeof(Tally.Sharing.SharingLab),
            typeof(Tally.Simulation.AggregationLab), typeof(Tally.Simulation.AccuracySweep), typeof(Tally.Simulation.SparseCrowdSimulator),
            typeof(Tally.Aggregation.Pairwise.NoisyBradleyTerry), typeof(Tally.Simulation.PairwiseLab),
        })
            Assert.True(forbidden.ContainsKey(t.FullName!), $"{t.FullName} should be forbidden to the CLI");
        foreach (var t in new[]
        {
            typeof(Tally.Aggregation.DawidSkeneOptions), typeof(Tally.Aggregation.AggregationResult), typeof(Tally.Aggregation.WorkerPrior),
            typeof(Tally.Simulation.SparseCrowdScenario), typeof(Tally.Simulation.SweepPoint), typeof(Tally.Simulation.AdversaryStrategy),
            typeof(Tally.Sharing.SharingLabReport), typeof(Tally.Sharing.SharingLabOptions), typeof(Tally.Catalogs.AggregatorInfo),
        })
            Assert.False(forbidden.ContainsKey(t.FullName!), $"{t.FullName} should be allowed to the CLI");
    }

    private static List<List<string>> StronglyConnected(SortedDictionary<string, SortedSet<string>> g)
    {
        // Tarjan's algorithm; the graph has a dozen nodes, recursion is fine.
        var index = new Dictionary<string, int>(); var low = new Dictionary<string, int>();
        var stack = new Stack<string>(); var on = new HashSet<string>(); var result = new List<List<string>>();
        int next = 0;
        void Visit(string v)
        {
            index[v] = low[v] = next++; stack.Push(v); on.Add(v);
            foreach (var w in g.TryGetValue(v, out var s) ? s : [])
            {
                if (!index.ContainsKey(w)) { Visit(w); low[v] = Math.Min(low[v], low[w]); }
                else if (on.Contains(w)) low[v] = Math.Min(low[v], index[w]);
            }
            if (low[v] != index[v]) return;
            var comp = new List<string>();
            string x;
            do { x = stack.Pop(); on.Remove(x); comp.Add(x); } while (x != v);
            comp.Sort(StringComparer.Ordinal);
            result.Add(comp);
        }
        foreach (var v in g.Keys) if (!index.ContainsKey(v)) Visit(v);
        return result;
    }
}
