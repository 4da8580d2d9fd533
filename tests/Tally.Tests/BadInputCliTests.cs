using Tally.Core;

namespace Tally.Tests;

/// <summary>
/// Bad input as a new user types it, command by command: every case exits 2 with exactly one <c>tally: error:</c> line
/// in the user's terms (option names as typed, no .NET type names, stack traces or temporary paths), and nothing is
/// written. The options of each command are checked before any work, including options that do not apply.
/// </summary>
public sealed class BadInputCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tally-bad-input-").FullName;

    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    private static string Dog => Path.Combine(TestData.RepoRoot, "data", "dog", "answers.csv");

    /// <summary>
    /// Invocations that must be refused before any work, at least one per command; <c>{dir}</c> is an empty folder
    /// that must stay empty (outputs go under it), <c>{dog}</c> the bundled dog answers. The second element is a
    /// fragment the one error line must contain.
    /// </summary>
    public static TheoryData<string, string> Refused => new()
    {
        // aggregate: options that do nothing for the method are refused, NaN is refused, value parse errors are worded.
        { "aggregate {dog} --method mv --max-iterations 5 --out {dir}/o", "--max-iterations applies to the iterative methods" },
        { "aggregate {dog} --method wawa --tolerance 0.1 --out {dir}/o", "not wawa" },
        { "aggregate {dog} --method ds --seed 3 --out {dir}/o", "--seed applies to the methods that draw random numbers" },
        { "aggregate {dog} --method ds --prior onecoin:2,1 --out {dir}/o", "--prior applies to" },
        { "aggregate {dog} --method mv --gold {dog} --out {dir}/o", "--gold applies to" },
        { "aggregate {dog} --unseen-workers ignore --out {dir}/o", "--unseen-workers applies only with --model" },
        { "aggregate {dog} --format json", "--format applies to the files written with --out" },
        { "aggregate {dog} --tolerance NaN --out {dir}/o", "--tolerance must be a finite number" },
        { "aggregate {dog} --max-iterations -1 --out {dir}/o", "--max-iterations must be at least 0" },
        { "aggregate {dog} --seed abc --out {dir}/o", "--seed: 'abc' is not an integer" },
        { "aggregate {dog} --format xml --out {dir}/o", "--format: 'xml' is not one of csv, json" },
        { "aggregate {dog} --refine --out {dir}/o", "--refine needs --model" },
        { "aggregate {dog} --method nope --out {dir}/o", "unknown method 'nope'" },
        { "aggregate {dog} --save-model {dir}/missing/m.json", "--save-model" },
        { "--threads -1 aggregate {dog} --out {dir}/o", "--threads must be at least 0" },
        // compare
        { "compare --dataset dog --methods mv,wawa --prior onecoin:2,1 --out {dir}/c", "none of which is compared" },
        { "compare --dataset dog --methods mv --max-iterations 3 --out {dir}/c", "--max-iterations applies" },
        { "compare --dataset dog --methods ds --seed 2 --out {dir}/c", "--seed applies" },
        { "compare --dataset dog --methods mv,nope --out {dir}/c", "unknown method 'nope'" },
        { "compare --dataset dog --tolerance NaN --out {dir}/c", "--tolerance must be a finite number" },
        // methods, datasets
        { "methods --bogus", "unknown option '--bogus'" },
        { "aggregate --dataset dog --method bp --bogus", "unknown option '--bogus'" },
        { "datasets extra", "unexpected argument 'extra'" },
        // simulate
        { "simulate ds --tasks 0 --out {dir}/s.csv", "--tasks must be at least 1" },
        { "simulate ds --accuracy NaN --out {dir}/s.csv", "--accuracy" },
        { "simulate sparse --alpha1 NaN --out {dir}/s.csv", "--alpha1 must be a finite number" },
        { "simulate sparse --spammer-share 0.5 --out {dir}/s.csv", "--spammer-share applies to the extreme spammers" },
        { "simulate rowdy --adversaries NaN --out {dir}/s.csv", "--adversaries must be in [0, 1]" },
        { "simulate rowdy --adversaries 0.1 --adversary-strategy flip --constant-label 1 --out {dir}/s.csv", "--constant-label applies to --adversary-strategy constant" },
        { "simulate rowdy --adversaries 0 --adversary-strategy flip --out {dir}/s.csv", "--adversary-strategy applies to colluding workers" },
        // pay
        { "pay {dog} --mechanism reform --round -1 --out {dir}/o", "--round must be at least 0" },
        { "pay {dog} --mechanism ca --budget NaN --out {dir}/o", "--budget must be a positive finite number" },
        { "pay {dog} --mechanism ca --k 2 --out {dir}/o", "--k applies only to --mechanism reform:NAME" },
        { "pay {dog} --mechanism rptsc --alpha Infinity --out {dir}/o", "--alpha must be a finite number" },
        { "pay {dog} --mechanism reform --lambda NaN --out {dir}/o", "--lambda" },
        { "pay {dog} --mechanism nope --out {dir}/o", "nope" },
        // share
        { "share allocate --submissions {dir}/../missing-subs.csv --sigma NaN --cost 0.01 --out {dir}/o", "--sigma must be a positive finite number" },
        { "share allocate --agents 2 --submissions {dir}/../missing-subs.csv --sigma 1 --cost 0.01", "unknown option '--agents'" },
        { "share estimate --own {dir}/../missing-own.csv --allocation {dir}/../missing.json", "file not found" },
        { "share lab --agents 4 --plot {dir}/p.png", "m ≥ 5" },
        { "share lab --cost -1 --plot {dir}/p.png", "--cost" },
        { "share lab --replications 0 --plot {dir}/p.png", "--replications must be at least" },
        // learn, predict
        { "learn --dataset music-genre --learning-rate NaN --out {dir}/o", "--learning-rate must be a finite number above 0" },
        { "learn --dataset music-genre --epochs 0 --out {dir}/o", "--epochs must be at least 1" },
        { "learn --dataset music-genre --classifier mlp:0 --out {dir}/o", "--classifier" },
        { "learn --dataset music-genre --method nope --out {dir}/o", "unknown method 'nope'" },
        { "learn --answers {dog} --out {dir}/o", "give --answers and --features" },
        { "predict {dir}/../missing.tlm {dir}/../missing.csv --out {dir}/p.csv", "file not found" },
        // rounds
        { "rounds run {dir}/../missing-scenario.json --out {dir}/o", "file not found" },
        // lab
        { "lab edx --seeds 1", "--seeds must be at least 2" },
        { "lab edx --agents 1", "--agents must be at least 2" },
        { "lab edx --stride 0", "--stride must be at least 1" },
        { "lab peer --adversary-fraction NaN", "--adversary-fraction must be at least 0 and below 1" },
        { "lab peer --seeds 1", "--seeds must be at least 2" },
        { "lab gap --vary tasks --values 300,1000 --tasks 50 --out {dir}/g", "--tasks is the varied parameter" },
        { "lab gap --vary alpha --values 0,0.1 --adversary-fraction 0.2 --out {dir}/g", "--adversary-fraction is the varied parameter" },
        { "lab gap --values 0,NaN --out {dir}/g", "--values" },
        { "lab aggregation prior --values -1 --out {dir}/a", "--values -1 does not suit the prior experiment" },
        { "lab aggregation prior --confidence NaN --out {dir}/a", "--confidence must be strictly between 0 and 1" },
        { "lab aggregation prior --methods mv --prior onecoin:2,1 --out {dir}/a", "--prior applies" },
        { "lab learning --setting music-genre --train 100 --out {dir}/o", "--train applies to the Fashion-MNIST settings" },
        { "lab learning --learning-rate NaN --out {dir}/o", "--learning-rate must be a finite number above 0" },
    };

    [Theory]
    [MemberData(nameof(Refused))]
    public void A_bad_option_is_one_error_line_exit_2_and_writes_nothing(string invocation, string expected)
    {
        var args = invocation.Split(' ').Select(a => a.Replace("{dir}", _dir).Replace("{dog}", Dog)).ToArray();
        var (code, stdout, err) = CliTests.Run(args);
        Assert.True(code == 2, $"exit {code}; stderr: {err}; stdout: {stdout}");
        var errors = err.Split('\n').Where(l => l.StartsWith("tally: error:", StringComparison.Ordinal)).ToList();
        Assert.True(errors.Count == 1, err);
        Assert.Contains(expected, errors[0]);
        AssertUserTerms(err);
        Assert.Empty(Directory.EnumerateFileSystemEntries(_dir));
        Assert.Equal("", stdout.Trim());
    }

    /// <summary>What an error line must never show: a stack trace, an internal error, .NET types, reader coordinates, tabs, our temporary files.</summary>
    private static void AssertUserTerms(string err)
    {
        Assert.DoesNotContain("   at ", err);
        Assert.DoesNotContain("internal error", err);
        Assert.DoesNotContain("Exception", err);
        Assert.DoesNotContain("System.", err);
        Assert.DoesNotContain("(Parameter '", err);
        Assert.DoesNotContain("LineNumber:", err);
        Assert.DoesNotContain("BytePositionInLine", err);
        Assert.DoesNotContain("\t", err);
        Assert.DoesNotContain(".tally-write-probe", err);
        Assert.DoesNotContain(".tmp", err);
    }

    [Fact]
    public void Lab_edx_with_one_seed_is_a_user_error_not_an_internal_one()
    {
        // It used to print "internal error: AggregateException: One or more errors occurred. (At least 2 seeds …) (…)".
        var (code, _, err) = CliTests.Run("lab", "edx", "--seeds", "1", "--stride", "500");
        Assert.Equal(2, code);
        Assert.Equal("tally: error: --seeds must be at least 2, for an interval (got 1)", err.Trim());
    }

    [Fact]
    public void Lab_aggregation_with_a_value_the_scenario_cannot_have_names_the_value()
    {
        var (code, _, err) = CliTests.Run("lab", "aggregation", "prior", "--values", "0.5,-1", "--seeds", "2");
        Assert.Equal(2, code);
        Assert.StartsWith("tally: error: --values -1 does not suit the prior experiment", err.Trim());
        Assert.Single(err.Trim().Split('\n'));
    }

    [Fact]
    public void A_value_that_is_not_a_number_is_named_without_dotnet_types()
    {
        var (code, _, err) = CliTests.Run("aggregate", Dog, "--seed", "abc");
        Assert.Equal(2, code);
        Assert.Equal("tally: error: --seed: 'abc' is not an integer", err.Split('\n')[0]);
        (code, _, err) = CliTests.Run("aggregate", Dog, "--tolerance", "small");
        Assert.Equal(2, code);
        Assert.StartsWith("tally: error: --tolerance: 'small' is not a number", err);
        AssertUserTerms(err);
    }

    [Fact]
    public void A_choice_error_lists_the_choices_on_the_same_line()
    {
        var (code, _, err) = CliTests.Run("aggregate", Dog, "--format", "xml");
        Assert.Equal(2, code);
        Assert.Equal("tally: error: --format: 'xml' is not one of csv, json", err.Split('\n')[0]);
        AssertUserTerms(err);
    }

    [Fact]
    public void A_broken_json_file_is_located_in_lines_and_columns_from_1()
    {
        string model = Path.Combine(_dir, "model.json");
        File.WriteAllText(model, "{\n  \"Method\": ds\n}\n");
        var (code, _, err) = CliTests.Run("aggregate", Dog, "--model", model);
        Assert.Equal(2, code);
        Assert.Contains($"{model}: is not a Tally aggregation model: line 2, column", err);
        AssertUserTerms(err);
        string scenario = Path.Combine(_dir, "scenario.json");
        File.WriteAllText(scenario, "{");
        (code, _, err) = CliTests.Run("rounds", "run", scenario);
        Assert.Equal(2, code);
        Assert.Contains("not valid JSON", err);
        AssertUserTerms(err);
    }

    [Fact]
    public void Share_allocate_states_the_real_minimum_of_agents_from_the_start()
    {
        // It used to say "at least 2 agents", then with 2 agents "needs m ≥ 5".
        var subs = Path.Combine(_dir, "subs.csv");
        File.WriteAllText(subs, "agent,value\na,1\n");
        var (code, _, err) = CliTests.Run("share", "allocate", "--submissions", subs, "--sigma", "1", "--cost", "0.01", "--out", Path.Combine(_dir, "alloc"));
        Assert.Equal(2, code);
        Assert.Contains("at least 5 agents", err);
        File.WriteAllText(subs, "agent,value\na,1\nb,2\n");
        (code, _, err) = CliTests.Run("share", "allocate", "--submissions", subs, "--sigma", "1", "--cost", "0.01", "--out", Path.Combine(_dir, "alloc"));
        Assert.Equal(2, code);
        Assert.Contains("at least 5 agents", err);
        Assert.False(Directory.Exists(Path.Combine(_dir, "alloc")));
    }

    [Fact]
    public void An_unwritable_output_folder_is_refused_before_the_work_without_our_probe_file_in_the_message()
    {
        if (!OperatingSystem.IsLinux() || !Directory.Exists("/proc/self")) return;   // needs a folder nobody can create files in
        var (code, stdout, err) = CliTests.Run("aggregate", Dog, "--method", "mv", "--out", "/proc/tally-out");
        Assert.Equal(2, code);
        Assert.Contains("--out /proc/tally-out: cannot write in /proc", err);
        Assert.Equal("", stdout.Trim());
        AssertUserTerms(err);
    }

    [Fact]
    public void A_failed_atomic_write_names_the_target_not_the_temporary_file()
    {
        if (!OperatingSystem.IsLinux() || !Directory.Exists("/proc/self")) return;
        var e = Assert.Throws<TallyUserException>(() => AtomicFile.WriteText("/proc/tally-labels.csv", w => w.Write("x")));
        Assert.StartsWith("cannot write /proc/tally-labels.csv: ", e.Message);
        Assert.DoesNotContain(".tmp", e.Message);
    }

    [Fact]
    public void A_long_or_binary_value_is_echoed_cut_and_escaped_on_one_line()
    {
        string field = new string('x', 5_000_000);
        var (code, _, err) = CliTests.Run("aggregate", Dog, "--method", field);
        Assert.Equal(2, code);
        var line = err.Split('\n')[0];
        Assert.True(line.Length < 400, line[..Math.Min(line.Length, 400)]);
        Assert.Contains("'" + new string('x', Quote.MaxLength) + "…' (5,000,000 characters)", line);
        (code, _, err) = CliTests.Run("aggregate", Dog, "--method", "a\tb\u0001\r\nc");
        Assert.Equal(2, code);
        Assert.Contains(@"unknown method 'a\tb\x01\r\nc'", err);
        Assert.Single(err.Trim().Split('\n'));
    }

    [Fact]
    public void Quote_cuts_escapes_and_keeps_printable_text()
    {
        Assert.Equal("'café'", Quote.Value("café"));
        Assert.Equal("(none)", Quote.Value(null));
        Assert.Equal(@"'a\tb\n\0'", Quote.Value("a\tb\n\0"));
        Assert.Equal(@"'\x7F\x85\u200B\u202E'", Quote.Value("\u007f\u0085\u200b\u202e"));   // DEL, NEL, zero-width space, RTL override
        Assert.Equal(@"'\uD800x'", Quote.Value("\ud800x"));                                    // a lone surrogate
        Assert.Equal("'😀'", Quote.Value("😀"));                                               // a pair is one character
        Assert.Equal("'\uFFFD'", Quote.Value("\uFFFD"));                                       // shown: it says "these were not text"
        Assert.Equal(@"'it\'s'", Quote.Value("it's"));
        string cut = Quote.Value(new string('é', 81));
        Assert.Equal("'" + new string('é', 80) + "…' (81 characters)", cut);
        Assert.Equal("'" + new string('é', 80) + "'", Quote.Value(new string('é', 80)));
        Assert.Equal(new string('y', 80) + "… (100 characters)", Quote.Bare(new string('y', 100)));
    }

    [Fact]
    public void A_memory_limit_that_is_not_a_size_is_refused()
    {
        Assert.Equal(8L << 30, Tally.Cli.CliValues.ParseSize("8G"));
        Assert.Equal(8L << 30, Tally.Cli.CliValues.ParseSize("8GiB"));
        Assert.Equal(512L << 20, Tally.Cli.CliValues.ParseSize("512M"));
        Assert.Equal(1_000_000_000L, Tally.Cli.CliValues.ParseSize("1000000000"));
        Assert.Null(Tally.Cli.CliValues.ParseSize("lots"));
        Assert.Null(Tally.Cli.CliValues.ParseSize("-1G"));
        Assert.Null(Tally.Cli.CliValues.ParseSize("NaN"));
    }
}
