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
        .LoadAssemblies(typeof(Tally.Core.LabelMatrix).Assembly, typeof(Tally.Cli.Program).Assembly).Build());

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
