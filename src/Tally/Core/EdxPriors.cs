using System.Collections.Immutable;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace Tally.Core;

/// <summary>
/// One edX peer-assessment joint (Shnayder &amp; Parkes): the distribution of the scores two random peers gave the
/// same submission on one rubric criterion.
/// </summary>
/// <param name="Index">0-based position in the file.</param>
/// <param name="CourseId">Course.</param>
/// <param name="ProblemId">Problem within the course.</param>
/// <param name="CriterionId">Rubric criterion within the problem.</param>
/// <param name="Classes">n, the number of score values.</param>
/// <param name="Joint">J, n×n row-major, symmetric, sums to 1.</param>
public sealed record EdxPrior(int Index, int CourseId, int ProblemId, int CriterionId, int Classes, ImmutableArray<double> Joint)
{
    /// <summary>"course/problem/criterion".</summary>
    public string Name => $"{CourseId}/{ProblemId}/{CriterionId}";

}

/// <summary>Loads the bundled edX joints (data/edx-peer-assessment-joints/joint_distributions.json).</summary>
public static class EdxPriors
{
    /// <summary>Folder under the data root.</summary>
    public const string FolderName = "edx-peer-assessment-joints";
    /// <summary>File in that folder.</summary>
    public const string FileName = "joint_distributions.json";
    /// <summary>Tolerance of the validation (symmetry and sum to 1); the file itself is exact to 2.3e-16.</summary>
    public const double Tolerance = 1e-6;

    /// <summary>Path of the bundled file, or null if no data folder is found (see <see cref="BundledDatasets.Root"/>).</summary>
    public static string? BundledPath()
    {
        var root = BundledDatasets.Root();
        if (root is null) return null;
        var path = Path.Combine(root, FolderName, FileName);
        return File.Exists(path) ? path : null;
    }

    /// <summary>The 1,944 bundled joints.</summary>
    /// <exception cref="TallyDataException">The file is missing or invalid.</exception>
    public static IReadOnlyList<EdxPrior> LoadBundled() =>
        Load(BundledPath() ?? throw new TallyDataException(FileName, 0,
            $"bundled file not found (looked for data/{FolderName}/{FileName}; set TALLY_DATA)"));

    /// <summary>Reads and validates a joint_distributions.json file.</summary>
    /// <exception cref="TallyDataException">Unreadable JSON or an invalid entry (the message names its index).</exception>
    public static IReadOnlyList<EdxPrior> Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        return Parse(TextFiles.ReadAllText(path), path);
    }

    /// <summary>Parses the JSON text: a list of <c>[[course_id, problem_id, criterion_id], J]</c>.</summary>
    /// <exception cref="TallyDataException">Unreadable JSON or an invalid entry (the message names its index).</exception>
    public static IReadOnlyList<EdxPrior> Parse(string json, string source = FileName)
    {
        ArgumentNullException.ThrowIfNull(json);
        JsonDocument doc;
        try { doc = JsonDocument.Parse(json); }
        catch (JsonException e) { throw new TallyDataException(source, JsonErrors.Line(e), "not valid JSON: " + JsonErrors.Problem(e), e); }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Array) throw new TallyDataException(source, 0, "expected a JSON list of entries");
            var list = new List<EdxPrior>();
            int index = 0;
            foreach (var entry in doc.RootElement.EnumerateArray())
            {
                list.Add(ParseEntry(entry, index, source));
                index++;
            }
            return list;
        }
    }

    /// <summary>What is wrong with J (K×K row-major), or null if it is a valid symmetric joint distribution.</summary>
    public static string? JointProblem(ReadOnlySpan<double> joint, int k, double tolerance)
    {
        if (joint.Length != k * k) return $"expected {k}×{k} = {k * k} entries, got {joint.Length}";
        double sum = 0;
        for (int x = 0; x < k; x++)
            for (int y = 0; y < k; y++)
            {
                double v = joint[x * k + y];
                if (!double.IsFinite(v)) return $"J[{x}][{y}] is not a finite number";
                if (v < 0) return $"J[{x}][{y}] = {NumberFormat.Number(v)} is negative";
                if (Math.Abs(v - joint[y * k + x]) > tolerance)
                    return $"not symmetric: J[{x}][{y}] = {NumberFormat.Number(v)} but J[{y}][{x}] = {NumberFormat.Number(joint[y * k + x])}";
                sum += v;
            }
        if (Math.Abs(sum - 1) > tolerance) return $"entries sum to {NumberFormat.Number(sum)}, not 1 (tolerance {NumberFormat.Number(tolerance)})";
        return null;
    }

    private static EdxPrior ParseEntry(JsonElement entry, int index, string source)
    {
        TallyDataException Bad(string problem) => new(source, 0, $"entry {index}: {problem}");
        if (entry.ValueKind != JsonValueKind.Array || entry.GetArrayLength() != 2)
            throw Bad("expected [[course_id, problem_id, criterion_id], J]");
        var key = entry[0];
        if (key.ValueKind != JsonValueKind.Array || key.GetArrayLength() != 3 || key.EnumerateArray().Any(e => e.ValueKind != JsonValueKind.Number || !e.TryGetInt32(out _)))
            throw Bad("the key must be three integers [course_id, problem_id, criterion_id]");
        int course = key[0].GetInt32(), problem = key[1].GetInt32(), criterion = key[2].GetInt32();
        var label = $"entry {index} ({course}/{problem}/{criterion})";
        var rows = entry[1];
        if (rows.ValueKind != JsonValueKind.Array || rows.GetArrayLength() < 1)
            throw new TallyDataException(source, 0, $"{label}: J must be a non-empty list of rows");
        int n = rows.GetArrayLength();
        var j = new double[MemoryBudget.Length(n, n)];
        int r = 0;
        foreach (var row in rows.EnumerateArray())
        {
            if (row.ValueKind != JsonValueKind.Array || row.GetArrayLength() != n)
                throw new TallyDataException(source, 0, $"{label}: J must be square; row {r} does not have {n} entries");
            int c = 0;
            foreach (var v in row.EnumerateArray())
            {
                if (v.ValueKind != JsonValueKind.Number) throw new TallyDataException(source, 0, $"{label}: J[{r}][{c}] is not a number");
                j[r * n + c] = v.GetDouble();
                c++;
            }
            r++;
        }
        var why = JointProblem(j, n, Tolerance);
        if (why is not null) throw new TallyDataException(source, 0, $"{label}: {why}");
        return new EdxPrior(index, course, problem, criterion, n, ImmutableCollectionsMarshal.AsImmutableArray(j));
    }
}
