using Tally.Core;
using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using Tally.Sharing;

namespace Tally.Cli;

/// <summary><c>tally share</c>: the collaborative mean-estimation mechanism (data sharing without free-riding).</summary>
internal static class ShareCommand
{
    public static Command Create(CliContext ctx)
    {
        var cmd = new Command("share", "Data sharing without free-riding: the collaborative normal mean-estimation mechanism (Chen, Zhu & Kandasamy, NeurIPS 2023).");
        cmd.Add(CreateAllocate(ctx));
        cmd.Add(CreateEstimate(ctx));
        cmd.Add(CreateLab(ctx));
        return cmd;
    }

    /// <summary>Reads agent,value rows (or, for a directory, one value-column CSV per agent named after the agent).</summary>
    private static (List<string> Agents, List<List<double>> Values) ReadSubmissions(string path)
    {
        var agents = new List<string>();
        var values = new List<List<double>>();
        void Add(string agent, double v)
        {
            int i = agents.IndexOf(agent);
            if (i < 0) { agents.Add(agent); values.Add(new List<double>()); i = agents.Count - 1; }
            values[i].Add(v);
        }
        if (Directory.Exists(path))
        {
            foreach (var file in Directory.GetFiles(path, "*.csv").Order(StringComparer.Ordinal))
            {
                string agent = Path.GetFileNameWithoutExtension(file);
                agents.Add(agent); values.Add(ReadValues(file));
            }
        }
        else
        {
            using var csv = Tally.Core.CsvRecordReader.Open(path);
            int ac = csv.Column("agent"), vc = csv.Column("value");
            while (csv.ReadChecked()) Add(csv.Field(ac).ToString(), ParseValue(csv));
        }
        if (agents.Count < 2) throw new Tally.Core.TallyDataException(path, 0, $"needs submissions from at least 2 agents (found {agents.Count})");
        return (agents, values);
    }

    private static double ParseValue(Tally.Core.CsvRecordReader csv)
    {
        var field = csv.Field(csv.Column("value"));
        if (!double.TryParse(field, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !double.IsFinite(v))
            throw new Tally.Core.TallyDataException(csv.SourceName, csv.LineNumber, $"value '{field.ToString()}' is not a finite number");
        return v;
    }

    private static List<double> ReadValues(string file)
    {
        using var csv = Tally.Core.CsvRecordReader.Open(file);
        var list = new List<double>();
        while (csv.ReadChecked()) list.Add(ParseValue(csv));
        return list;
    }

    private static Command CreateAllocate(CliContext ctx)
    {
        var submissions = new Option<string>("--submissions") { Description = "agent,value CSV, or a directory with one value CSV per agent.", Required = true };
        var sigma = new Option<double>("--sigma") { Description = "Known σ.", Required = true };
        var cost = new Option<double>("--cost") { Description = "Cost c per sample.", Required = true };
        var seed = new Option<int>("--seed", "-s") { Description = "Seed for Z_i and the noise.", DefaultValueFactory = _ => 0 };
        var outDir = new Option<string>("--out", "-o") { Description = "Directory for allocation-<agent>.json files.", DefaultValueFactory = _ => "allocations" };
        var cmd = new Command("allocate", """
            The mediator's step: from every agent's submitted samples, each agent's allocation (Z_i: n* of the others' points;
            Z'_i: the rest, each with Gaussian noise of variance η_i² = α²(mean(Y_i) − mean(Z_i))²).

            Example:
              tally share allocate --submissions subs.csv --sigma 1 --cost 0.01 --seed 7 --out alloc/
            """)
        { submissions, sigma, cost, seed, outDir };
        cmd.SetAction(p =>
        {
            var (agents, values) = ReadSubmissions(p.GetValue(submissions)!);
            var problem = new SharingProblem(agents.Count, p.GetValue(sigma), p.GetValue(cost));
            var mechanism = new CollaborativeMeanMechanism(problem);
            var allocations = mechanism.Allocate(values.Select(v => (IReadOnlyList<double>)v).ToList(), new Random(p.GetValue(seed)));
            string dir = p.GetValue(outDir)!;
            Directory.CreateDirectory(dir);
            for (int i = 0; i < agents.Count; i++)
            {
                var a = allocations[i];
                var doc = new
                {
                    agent = agents[i], sigma = problem.Sigma, alpha = mechanism.NoiseScale, recommended_samples = mechanism.RecommendedSampleSize,
                    eta_squared = double.IsPositiveInfinity(a.EtaSquared) ? (double?)null : a.EtaSquared,
                    noisy_weight = a.NoisyWeight(problem.Sigma), z = a.Z, z_prime = a.ZPrime,
                };
                AtomicFile.WriteText(Path.Combine(dir, $"allocation-{agents[i]}.json"),
                    w => w.Write(System.Text.Json.JsonSerializer.Serialize(doc, new System.Text.Json.JsonSerializerOptions { WriteIndented = true })));
            }
            ctx.Out.MarkupLine(Markup.Escape($"m = {agents.Count}, n* = {mechanism.RecommendedSampleSize} samples per agent, α = {mechanism.NoiseScale:0.######}; wrote {agents.Count} allocations to {dir}"));
            return 0;
        });
        return cmd;
    }

    private static Command CreateEstimate(CliContext ctx)
    {
        var own = new Option<string>("--own") { Description = "The agent's own samples (CSV with a value column).", Required = true };
        var allocation = new Option<string>("--allocation") { Description = "The agent's allocation JSON from 'tally share allocate'.", Required = true };
        var cmd = new Command("estimate", """
            The recommended estimate for one agent: precision-weighted mean of her own samples and Z (weight 1) and Z' (weight
            1/(1 + η²/σ²)).

            Example:
              tally share estimate --own mine.csv --allocation alloc/allocation-alice.json
            """)
        { own, allocation };
        cmd.SetAction(p =>
        {
            var x = ReadValues(p.GetValue(own)!);
            string path = p.GetValue(allocation)!;
            if (!File.Exists(path)) throw new Tally.Core.TallyDataException(path, 0, "file not found");
            System.Text.Json.JsonElement root;
            try { root = System.Text.Json.JsonDocument.Parse(File.ReadAllText(path)).RootElement; }
            catch (System.Text.Json.JsonException e) { throw new Tally.Core.TallyDataException(path, (e.LineNumber ?? -1) + 1, "not valid JSON: " + e.Message); }
            double sigma = root.GetProperty("sigma").GetDouble();
            double eta2 = root.GetProperty("eta_squared").ValueKind == System.Text.Json.JsonValueKind.Null ? double.PositiveInfinity : root.GetProperty("eta_squared").GetDouble();
            var z = root.GetProperty("z").EnumerateArray().Select(e => e.GetDouble()).ToList();
            var zp = root.GetProperty("z_prime").EnumerateArray().Select(e => e.GetDouble()).ToList();
            double estimate = CollaborativeMeanMechanism.RecommendedEstimate(x, new Allocation(z, zp, eta2), sigma);
            ctx.Out.MarkupLine(Markup.Escape($"estimate {estimate.ToString("G10", CultureInfo.InvariantCulture)} (own {x.Count}, Z {z.Count}, Z' {zp.Count} at weight {new Allocation(z, zp, eta2).NoisyWeight(sigma):0.####})"));
            return 0;
        });
        return cmd;
    }

    private static Command CreateLab(CliContext ctx)
    {
        var agents = new Option<int>("--agents", "-m") { Description = "Number of agents m (at least 5).", DefaultValueFactory = _ => 10 };
        var sigma = new Option<double>("--sigma") { Description = "Known standard deviation σ of the samples.", DefaultValueFactory = _ => 1 };
        var cost = new Option<double>("--cost") { Description = "Cost c of one sample.", DefaultValueFactory = _ => 0.01 };
        var rule = new Option<string>("--rule") { Description = "collaborative (the mechanism), pool (pool-and-share) or threshold (pool-if-you-contribute-enough).", DefaultValueFactory = _ => "collaborative" };
        var reps = new Option<int>("--replications") { Description = "Monte-Carlo replications per strategy and mean.", DefaultValueFactory = _ => 2000 };
        var seed = new Option<int>("--seed", "-s") { Description = "Seed.", DefaultValueFactory = _ => 1 };
        var plot = new Option<string?>("--plot") { Description = "Write a bar chart of every strategy's penalty (PNG)." };
        var cmd = new Command("lab", """
            Penalty (worst-case squared error over μ ∈ {0, σ, 3σ} + c·samples) of one agent under the recommended profile and
            under unilateral deviations (collect more/less, withhold, fabricate, ignore the noise weights, free-ride), with 95%
            half-widths; individual rationality and the social penalty against the optimum 2σ√(cm).

            Examples:
              tally share lab --agents 10 --sigma 1 --cost 0.01
              tally share lab --agents 10 --rule pool        # the naive rule: free-riding pays
            """)
        { agents, sigma, cost, rule, reps, seed, plot };
        cmd.SetAction(p =>
        {
            var problem = new SharingProblem(p.GetValue(agents), p.GetValue(sigma), p.GetValue(cost));
            var r = p.GetValue(rule) switch
            {
                "collaborative" => SharingRule.Collaborative,
                "pool" => SharingRule.PoolAndShare,
                "threshold" => SharingRule.PoolIfContributeEnough,
                var x => throw new UsageException($"--rule must be collaborative, pool or threshold (got '{x}')"),
            };
            if (p.GetValue(reps) < 10) throw new UsageException("--replications must be at least 10");
            var lab = new SharingLab(new SharingLabOptions { Replications = p.GetValue(reps), Seed = p.GetValue(seed) });
            var report = ctx.WithProgress("Simulating", _ => lab.Run(problem, r));
            var table = new Table().Border(TableBorder.Rounded).Title(Markup.Escape(
                $"m = {problem.Agents}, σ = {problem.Sigma}, c = {problem.Cost}, rule = {r}: n* = {report.RecommendedSampleSize}, α = {report.Alpha:0.#####}"));
            table.AddColumn("strategy"); table.AddColumn(new TableColumn("samples").RightAligned());
            table.AddColumn(new TableColumn("penalty (worst μ)").RightAligned()); table.AddColumn(new TableColumn("gain vs recommended").RightAligned());
            table.AddRow(Markup.Escape(report.Recommended.Strategy), report.Recommended.Collected.ToString(CultureInfo.InvariantCulture),
                Markup.Escape($"{report.Recommended.Penalty:0.0000} ± {report.Recommended.HalfWidth:0.0000}"), "—");
            foreach (var d in report.Deviations)
                table.AddRow(Markup.Escape(d.Strategy), d.Collected.ToString(CultureInfo.InvariantCulture), Markup.Escape($"{d.Penalty:0.0000} ± {d.HalfWidth:0.0000}"),
                    d.Gain > d.GainHalfWidth ? $"[red]{Markup.Escape($"+{d.Gain:0.0000} ± {d.GainHalfWidth:0.0000}")}[/]" : Markup.Escape($"{d.Gain:+0.0000;-0.0000} ± {d.GainHalfWidth:0.0000}"));
            ctx.Out.Write(table);
            if (r == SharingRule.Collaborative)
            {
                int ns = report.RecommendedSampleSize;
                double exact = CollaborativeMeanMechanism.ExpectedError(problem, report.Alpha, ns, ns) + problem.Cost * ns;
                ctx.Out.MarkupLine(Markup.Escape($"exact recommended penalty R(n*) + c·n* = {exact:0.00000}; social {problem.Agents * exact:0.0000} = {problem.Agents * exact / problem.OptimalSocialPenalty:0.0000} × optimum"));
            }
            if (p.GetValue(plot) is { } png)
            {
                var all = new[] { report.Recommended }.Concat(report.Deviations).ToList();
                Plots.Bars(png, $"Penalty per strategy (m = {problem.Agents}, {r}; solo = {report.SoloPenalty:0.###})", "penalty (worst μ)",
                    all.Select(o => o.Strategy).ToList(), all.Select(o => o.Penalty).ToList());
            }
            ctx.Out.MarkupLine(Markup.Escape($"individually rational: {(report.IndividuallyRational ? "yes" : "no")} (alone: 2σ√c = {report.SoloPenalty:0.0000}); social penalty {report.SocialPenalty:0.000} vs optimum 2σ√(cm) = {report.OptimalSocialPenalty:0.000} (ratio {report.SocialPenalty / report.OptimalSocialPenalty:0.00})"));
            return 0;
        });
        return cmd;
    }
}
