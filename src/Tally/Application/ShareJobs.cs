using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Tally.Core;
using Tally.Sharing;

namespace Tally.Application;

/// <summary>Every agent's submitted samples, agents in natural order (<see cref="Vocabulary.NaturalOrder"/>).</summary>
/// <param name="Agents">Agent names.</param>
/// <param name="Values">Agent i's values, in ascending order (the mechanism uses them as a set).</param>
public sealed record SharingSubmissions(IReadOnlyList<string> Agents, IReadOnlyList<IReadOnlyList<double>> Values);

/// <summary>The files of the data-sharing jobs: submissions in, one allocation JSON per agent out.</summary>
public static class SharingFiles
{
    /// <summary>
    /// Reads submissions: a CSV with <c>agent,value</c> columns (an agent's rows need not be adjacent), or a folder
    /// with one CSV per agent (a <c>value</c> column), named after the agent. The result does not depend on the
    /// order of the rows or files: agents are sorted (numerically when every name is a number) and each agent's values
    /// ascending, so the same submissions in any order give the same allocations.
    /// </summary>
    /// <exception cref="TallyDataException">A missing column, a value that is not a finite number, fewer than
    /// <see cref="SharingProblem.MinimumAgents"/> agents, or an agent name that cannot name a file.</exception>
    public static SharingSubmissions ReadSubmissions(string path, FileEncoding encoding = FileEncoding.Utf8)
    {
        var byAgent = new Dictionary<string, List<double>>(StringComparer.Ordinal);
        if (Directory.Exists(path))
        {
            foreach (var file in Directory.GetFiles(path, "*.csv"))
                byAgent[Path.GetFileNameWithoutExtension(file)] = ReadValues(file, encoding);
        }
        else
        {
            using var csv = CsvRecordReader.Open(path, encoding: encoding);
            int ac = csv.Column("agent"), vc = csv.Column("value");
            while (csv.ReadChecked())
            {
                string agent = csv.Field(ac).ToString();
                if (agent.Length == 0) throw new TallyDataException(csv.SourceName, csv.LineNumber, "empty agent name");
                if (!byAgent.TryGetValue(agent, out var list)) byAgent[agent] = list = [];
                list.Add(ParseValue(csv, vc));
            }
        }
        if (byAgent.Count < SharingProblem.MinimumAgents)
            throw new TallyDataException(path, 0, $"needs submissions from at least {SharingProblem.MinimumAgents} agents: the collaborative mean mechanism needs m ≥ {SharingProblem.MinimumAgents} (found {byAgent.Count})");
        var agents = byAgent.Keys.ToArray();
        Array.Sort(agents, Vocabulary.NaturalOrder(agents));
        foreach (var a in agents)
            if (a.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 || a.Contains('/') || a.Contains('\\') || a is "." or "..")
                throw new TallyDataException(path, 0, $"agent name {Quote.Value(a)} cannot name an allocation file");
        var values = new IReadOnlyList<double>[agents.Length];
        for (int i = 0; i < agents.Length; i++)
        {
            var v = byAgent[agents[i]].ToArray();
            Array.Sort(v);
            values[i] = Array.AsReadOnly(v);
        }
        return new SharingSubmissions(Array.AsReadOnly(agents), Array.AsReadOnly(values));
    }

    /// <summary>Reads one agent's samples: a CSV with a <c>value</c> column.</summary>
    /// <exception cref="TallyDataException">A missing column or a value that is not a finite number.</exception>
    public static List<double> ReadValues(string path, FileEncoding encoding = FileEncoding.Utf8)
    {
        using var csv = CsvRecordReader.Open(path, encoding: encoding);
        int vc = csv.Column("value");
        var list = new List<double>();
        while (csv.ReadChecked()) list.Add(ParseValue(csv, vc));
        return list;
    }

    private static double ParseValue(CsvRecordReader csv, int column)
    {
        var field = csv.Field(column);
        if (!double.TryParse(field, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !double.IsFinite(v))
            throw new TallyDataException(csv.SourceName, csv.LineNumber, $"value {Quote.Value(field.ToString())} is not a finite number");
        return v;
    }

    /// <summary>The allocation file of <paramref name="agent"/> in <paramref name="directory"/>.</summary>
    public static string AllocationPath(string directory, string agent) => Path.Combine(directory, $"allocation-{agent}.json");

    /// <summary>
    /// Writes an agent's allocation as JSON, atomically: <c>agent</c>, <c>sigma</c>, <c>alpha</c>,
    /// <c>recommended_samples</c>, <c>eta_squared</c> (null when infinite), <c>noisy_weight</c>, <c>z</c>, <c>z_prime</c>.
    /// Numbers are written in their shortest round-trip form.
    /// </summary>
    public static string WriteAllocation(string path, string agent, CollaborativeMeanMechanism mechanism, Allocation allocation)
    {
        var doc = new JsonObject
        {
            ["agent"] = agent,
            ["sigma"] = mechanism.Problem.Sigma,
            ["alpha"] = mechanism.NoiseScale,
            ["recommended_samples"] = mechanism.RecommendedSampleSize,
            ["eta_squared"] = double.IsPositiveInfinity(allocation.EtaSquared) ? null : allocation.EtaSquared,
            ["noisy_weight"] = allocation.NoisyWeight(mechanism.Problem.Sigma),
            ["z"] = new JsonArray([.. allocation.Z.Select(v => (JsonNode?)v)]),
            ["z_prime"] = new JsonArray([.. allocation.ZPrime.Select(v => (JsonNode?)v)]),
        };
        return AtomicFile.WriteText(path, w => w.Write(doc.ToJsonString(new JsonSerializerOptions { WriteIndented = true })));
    }

    /// <summary>Reads an allocation file written by <see cref="WriteAllocation"/>: σ and the allocation.</summary>
    /// <exception cref="TallyDataException">Missing file, invalid JSON, or a missing or mistyped field.</exception>
    public static (double Sigma, Allocation Allocation) ReadAllocation(string path)
    {
        JsonElement root;
        try { root = JsonDocument.Parse(TextFiles.ReadAllText(path)).RootElement; }
        catch (JsonException e) { throw new TallyDataException(path, JsonErrors.Line(e), "not valid JSON: " + JsonErrors.Problem(e)); }
        try
        {
            if (root.ValueKind != JsonValueKind.Object) throw new TallyDataException(path, 0, "expected a JSON object");
            double sigma = Field(root, "sigma", path).GetDouble();
            var eta = Field(root, "eta_squared", path);
            double eta2 = eta.ValueKind == JsonValueKind.Null ? double.PositiveInfinity : eta.GetDouble();
            var z = Field(root, "z", path).EnumerateArray().Select(e => e.GetDouble()).ToArray();
            var zp = Field(root, "z_prime", path).EnumerateArray().Select(e => e.GetDouble()).ToArray();
            if (!(sigma > 0) || double.IsInfinity(sigma)) throw new TallyDataException(path, 0, $"sigma must be a positive number (got {NumberFormat.Number(sigma)})");
            if (!(eta2 >= 0)) throw new TallyDataException(path, 0, "eta_squared must be a non-negative number or null");
            return (sigma, new Allocation(Array.AsReadOnly(z), Array.AsReadOnly(zp), eta2));
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        {
            throw new TallyDataException(path, 0, "not an allocation file: " + e.Message);
        }
    }

    private static JsonElement Field(JsonElement root, string name, string path) =>
        root.TryGetProperty(name, out var v) ? v : throw new TallyDataException(path, 0, $"not an allocation file: no {Quote.Value(name)} field");
}

/// <summary>What <see cref="ShareAllocateJob"/> should do.</summary>
public sealed record ShareAllocateRequest
{
    /// <summary>Submissions: an <c>agent,value</c> CSV or a folder of per-agent CSVs (<see cref="SharingFiles.ReadSubmissions"/>).</summary>
    public required string SubmissionsPath { get; init; }
    /// <summary>The known standard deviation σ of the samples.</summary>
    public required double Sigma { get; init; }
    /// <summary>The cost c of one sample.</summary>
    public required double Cost { get; init; }
    /// <summary>Seed of the choice of Z_i and of the noise (<see cref="CollaborativeMeanMechanism.Allocate"/>).</summary>
    public int Seed { get; init; }
    /// <summary>The folder of the allocation files unless another is given.</summary>
    /// <summary>Folder for the <c>allocation-AGENT.json</c> files.</summary>
    public required string OutputDirectory { get; init; }
    /// <summary>The submissions' encoding when a file has no byte order mark.</summary>
    public FileEncoding Encoding { get; init; } = FileEncoding.Utf8;
}

/// <summary>What <see cref="ShareAllocateJob"/> did.</summary>
/// <param name="Agents">The agents, in the order of <see cref="Allocations"/>.</param>
/// <param name="RecommendedSampleSize">n*, the samples each agent is asked to collect.</param>
/// <param name="Alpha">α of the noise η² = α²(mean(Y_i) − mean(Z_i))².</param>
/// <param name="Allocations">Each agent's allocation.</param>
/// <param name="Written">The files written.</param>
public sealed record ShareAllocateOutcome(IReadOnlyList<string> Agents, int RecommendedSampleSize, double Alpha,
    IReadOnlyList<Allocation> Allocations, IReadOnlyList<string> Written);

/// <summary>
/// The mediator's step of the collaborative mean-estimation mechanism (Chen, Zhu &amp; Kandasamy, NeurIPS 2023):
/// read every agent's submission, compute each agent's allocation, write one JSON file per agent.
/// </summary>
public static class ShareAllocateJob
{
    /// <summary>Runs the job. The output folder is checked before any work.</summary>
    /// <exception cref="TallyUserException">Bad submissions or options.</exception>
    public static ShareAllocateOutcome Run(ShareAllocateRequest request, IProgress<JobProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        // σ and c first (the problem with the fewest agents it allows), so a bad option is not reported after a bad file.
        _ = new SharingProblem(SharingProblem.MinimumAgents, request.Sigma, request.Cost);
        OutputChecks.WritableDirectory(request.OutputDirectory);
        progress?.Report(new JobProgress("Reading submissions", 0));
        var subs = SharingFiles.ReadSubmissions(request.SubmissionsPath, request.Encoding);
        var problem = new SharingProblem(subs.Agents.Count, request.Sigma, request.Cost);
        progress?.Report(new JobProgress("Allocating", 0));
        var mechanism = new CollaborativeMeanMechanism(problem);
        var allocations = mechanism.Allocate(subs.Values, request.Seed);
        cancellationToken.ThrowIfCancellationRequested();
        Directory.CreateDirectory(request.OutputDirectory);
        var written = new List<string>();
        for (int i = 0; i < subs.Agents.Count; i++)
        {
            written.Add(SharingFiles.WriteAllocation(SharingFiles.AllocationPath(request.OutputDirectory, subs.Agents[i]),
                subs.Agents[i], mechanism, allocations[i]));
            progress?.Report(new JobProgress("Writing allocations", (i + 1.0) / subs.Agents.Count));
        }
        return new ShareAllocateOutcome(subs.Agents, mechanism.RecommendedSampleSize, mechanism.NoiseScale, allocations, written);
    }
}

/// <summary>One agent's allocation, as the server hands it out.</summary>
/// <param name="Agent">The agent.</param>
/// <param name="Allocation">Z, Z' and η².</param>
/// <param name="NoisyWeight">Weight of each Z' point in the recommended estimate.</param>
public sealed record AgentAllocation(string Agent, Allocation Allocation, double NoisyWeight);

/// <summary>The allocation step on submissions held in memory (the server's sharing sessions).</summary>
public static class ShareSessionJob
{
    /// <summary>
    /// Allocates as <see cref="ShareAllocateJob"/> does for files with the same rows: agents in natural order, each
    /// agent's values ascending, so the same submissions in any order give the same allocations.
    /// </summary>
    /// <exception cref="TallyUserException">Fewer agents than the problem needs, or a bad σ or c.</exception>
    public static (int RecommendedSampleSize, IReadOnlyList<AgentAllocation> Allocations) Allocate(
        IReadOnlyDictionary<string, IReadOnlyList<double>> submissions, double sigma, double cost, int seed)
    {
        ArgumentNullException.ThrowIfNull(submissions);
        var agents = submissions.Keys.ToArray();
        Array.Sort(agents, Vocabulary.NaturalOrder(agents));
        var mechanism = new CollaborativeMeanMechanism(new SharingProblem(agents.Length, sigma, cost));
        var allocations = mechanism.Allocate(agents.Select(a => (IReadOnlyList<double>)submissions[a].Order().ToArray()).ToArray(), seed);
        return (mechanism.RecommendedSampleSize,
            agents.Select((a, i) => new AgentAllocation(a, allocations[i], allocations[i].NoisyWeight(sigma))).ToArray());
    }

    /// <summary>Checks σ, c and the number of agents of a session before any sample is posted.</summary>
    /// <exception cref="InvalidOptionException">An option out of range.</exception>
    /// <exception cref="TallyUserException">Too few agents.</exception>
    public static void Check(int agents, double sigma, double cost) => _ = new SharingProblem(agents, sigma, cost);
}

/// <summary>What <see cref="ShareEstimateJob"/> should do.</summary>
/// <param name="OwnPath">The agent's own samples (CSV with a <c>value</c> column).</param>
/// <param name="AllocationPath">Her allocation file from <see cref="ShareAllocateJob"/>.</param>
/// <param name="Encoding">The encoding of <paramref name="OwnPath"/> when it has no byte order mark (allocation files are Tally's own UTF-8).</param>
public sealed record ShareEstimateRequest(string OwnPath, string AllocationPath, FileEncoding Encoding = FileEncoding.Utf8);

/// <summary>What <see cref="ShareEstimateJob"/> computed.</summary>
/// <param name="Estimate">The recommended estimate of the mean.</param>
/// <param name="Own">Own samples used.</param>
/// <param name="Z">Raw points received.</param>
/// <param name="ZPrime">Noisy points received.</param>
/// <param name="NoisyWeight">Weight of each noisy point, 1/(1 + η²/σ²).</param>
public sealed record ShareEstimateOutcome(double Estimate, int Own, int Z, int ZPrime, double NoisyWeight);

/// <summary>One agent's step: her recommended estimate from her own samples and her allocation.</summary>
public static class ShareEstimateJob
{
    /// <summary>Runs the job.</summary>
    /// <exception cref="TallyUserException">Bad files, or no data at all to estimate from.</exception>
    public static ShareEstimateOutcome Run(ShareEstimateRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var own = SharingFiles.ReadValues(request.OwnPath, request.Encoding);
        var (sigma, allocation) = SharingFiles.ReadAllocation(request.AllocationPath);
        if (own.Count + allocation.Z.Count + allocation.ZPrime.Count == 0)
            throw new TallyUserException($"nothing to estimate from: {request.OwnPath} has no values and the allocation is empty");
        double estimate = CollaborativeMeanMechanism.RecommendedEstimate(own, allocation, sigma);
        return new ShareEstimateOutcome(estimate, own.Count, allocation.Z.Count, allocation.ZPrime.Count, allocation.NoisyWeight(sigma));
    }
}

/// <summary>What <see cref="ShareLabJob"/> should do.</summary>
public sealed record ShareLabRequest
{
    /// <summary>Number of agents m (at least 5).</summary>
    public int Agents { get; init; } = 10;
    /// <summary>Known standard deviation σ of the samples.</summary>
    public double Sigma { get; init; } = 1;
    /// <summary>Cost c of one sample.</summary>
    public double Cost { get; init; } = 0.01;
    /// <summary>The sharing rule, by name (<see cref="ShareLabJob.RuleNames"/>).</summary>
    public string Rule { get; init; } = ShareLabJob.RuleNames[0];
    /// <summary>The lab's options (replications, means tried, seed).</summary>
    public SharingLabOptions Lab { get; init; } = new();
}

/// <summary>What <see cref="ShareLabJob"/> found.</summary>
/// <param name="Report">The lab's report.</param>
/// <param name="ExactRecommendedPenalty">
/// For the collaborative rule, the recommended profile's penalty R(n*) + c·n* computed exactly (quadrature), to set
/// beside the Monte-Carlo estimate; null for the naive rules.
/// </param>
public sealed record ShareLabOutcome(SharingLabReport Report, double? ExactRecommendedPenalty)
{
    /// <summary>m × <see cref="ExactRecommendedPenalty"/>, the exact social penalty of the recommended profile.</summary>
    public double? ExactSocialPenalty => ExactRecommendedPenalty * Report.Problem.Agents;
    /// <summary>Every strategy's outcome: the recommended one first, then the deviations.</summary>
    public IReadOnlyList<StrategyOutcome> Strategies => [Report.Recommended, .. Report.Deviations];
}

/// <summary>
/// The data-sharing lab: one agent's penalty under the recommended profile and under unilateral deviations, by
/// Monte Carlo (<see cref="SharingLab"/>), for the collaborative mechanism or a naive rule.
/// </summary>
public static class ShareLabJob
{
    private static readonly (string Name, SharingRule Rule)[] Rules =
        [("collaborative", SharingRule.Collaborative), ("pool", SharingRule.PoolAndShare), ("threshold", SharingRule.PoolIfContributeEnough)];

    /// <summary>The rule names, the default (the mechanism) first.</summary>
    public static IReadOnlyList<string> RuleNames { get; } = Rules.Select(r => r.Name).ToArray();

    /// <summary>The rule called <paramref name="name"/>.</summary>
    /// <exception cref="InvalidOptionException">No rule has that name.</exception>
    public static SharingRule ParseRule(string name) =>
        Rules.FirstOrDefault(r => string.Equals(r.Name, name, StringComparison.OrdinalIgnoreCase)) is { Name: not null } found
            ? found.Rule
            : throw new InvalidOptionException("Rule", $"must be {Specs.OneOf(RuleNames)} (got {Quote.Value(name)})");

    /// <summary>Runs the lab; replications run in parallel up to <paramref name="compute"/>'s threads, with the same report for any thread count.</summary>
    /// <exception cref="TallyUserException">Bad options (m &lt; 5, σ or c not positive, too few replications, unknown rule).</exception>
    public static ShareLabOutcome Run(ShareLabRequest request, ComputeOptions? compute = null, IProgress<JobProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var rule = ParseRule(request.Rule);
        var problem = new SharingProblem(request.Agents, request.Sigma, request.Cost);
        request.Lab.Validate();
        var report = new SharingLab(request.Lab).Run(problem, rule, compute,
            new SyncProgress<WorkProgress>(p => progress?.Report(new JobProgress("Simulating", p.Fraction))), cancellationToken);
        double? exact = null;
        if (rule == SharingRule.Collaborative)
        {
            int ns = report.RecommendedSampleSize;
            exact = CollaborativeMeanMechanism.ExpectedError(problem, report.Alpha, ns, ns) + problem.Cost * ns;
        }
        return new ShareLabOutcome(report, exact);
    }
}
