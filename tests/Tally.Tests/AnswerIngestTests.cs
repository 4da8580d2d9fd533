using System.Text;
using Tally.Core;

namespace Tally.Tests;

/// <summary>
/// The parallel answers reader (<see cref="AnswerIngest"/>) cut into many small chunks: it builds the same matrix as the
/// streaming reader, byte for byte, whatever the chunking and thread count, and every error is the streaming reader's
/// error with the right line — also when the error, a duplicate or a quoted line break lies in a later chunk.
/// </summary>
public sealed class AnswerIngestTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tally-ingest-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly int[] ChunkSizes = [1, 7, 64, 300, AnswerIngest.DefaultChunkBytes];
    private static readonly ComputeOptions[] Threads = [ComputeOptions.Sequential, new() { MaxDegreeOfParallelism = 3 }];

    private string Write(string name, byte[] bytes)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private string Write(string name, string text) => Write(name, Encoding.UTF8.GetBytes(text));

    /// <summary>What the streaming reader makes of the file: its matrix, or its error message.</summary>
    private static (LabelMatrixBuild? Build, string? Error) Streaming(string path, AnswerFileOptions options)
    {
        try
        {
            using var csv = CsvRecordReader.Open(path, options.Delimiter, options.Encoding);
            return (AnswerFiles.ReadAnswers(csv, options), null);
        }
        catch (TallyDataException e) { return (null, e.Message); }
    }

    /// <summary>Reads the file with every chunk size and thread count and checks each against the streaming reader.</summary>
    private static void AllAgree(string path, AnswerFileOptions options)
    {
        var (expected, error) = Streaming(path, options);
        foreach (int chunk in ChunkSizes)
            foreach (var compute in Threads)
            {
                if (error is not null)
                {
                    var e = Assert.Throws<TallyDataException>(() => AnswerFiles.ReadAnswers(path, options, null, compute, chunk));
                    Assert.Equal(error, e.Message);
                    continue;
                }
                // Built by the parallel reader itself, not by the streaming reader it falls back to.
                var got = AnswerIngest.TryRead(path, options, null, compute, chunk);
                Assert.NotNull(got);
                Assert.True(Same(expected!, got), $"chunk {chunk}, {compute.Threads} threads: a different matrix for {Path.GetFileName(path)}");
            }
    }

    private static bool Same(LabelMatrixBuild a, LabelMatrixBuild b)
    {
        var x = a.Matrix;
        var y = b.Matrix;
        return a.DroppedDuplicates == b.DroppedDuplicates
            && x.Tasks.Names.SequenceEqual(y.Tasks.Names) && x.Workers.Names.SequenceEqual(y.Workers.Names)
            && x.Classes.Names.SequenceEqual(y.Classes.Names)
            && x.TaskOffsets.SequenceEqual(y.TaskOffsets) && x.TaskWorkers.SequenceEqual(y.TaskWorkers)
            && x.TaskLabels.SequenceEqual(y.TaskLabels) && x.WorkerOffsets.SequenceEqual(y.WorkerOffsets)
            && x.WorkerTasks.SequenceEqual(y.WorkerTasks) && x.WorkerLabels.SequenceEqual(y.WorkerLabels)
            && x.WorkerAnswerIds.SequenceEqual(y.WorkerAnswerIds);
    }

    private static string Id(Random r, string prefix, int n, bool numeric) => r.Next(12) switch
    {
        _ when numeric => n.ToString(System.Globalization.CultureInfo.InvariantCulture),
        0 => $"\"{prefix}{n}, x\"",           // a quoted delimiter
        1 => $"\"{prefix}\n{n}\"",             // a quoted line break
        2 => $"\"{prefix}\"\"{n}\"",           // a doubled quote
        3 => $"0{n}",                          // numeric, not plain (leading zero)
        4 => $"{prefix}é{n}",
        _ => $"{prefix}{n}",
    };

    /// <summary>A random answers file: ids plain, quoted or numeric, LF or CR LF, blank lines, a BOM, duplicates.</summary>
    private static string RandomFile(Random r, bool numericTasks, bool numericWorkers, bool textLater)
    {
        var sb = new StringBuilder();
        if (r.Next(3) == 0) sb.Append('\uFEFF');
        string nl = r.Next(2) == 0 ? "\n" : "\r\n";
        sb.Append("task,worker,label").Append(nl);
        int rows = r.Next(1, 400);
        string[] labels = ["cat", "dog", "\"big, dog\"", "café"];
        for (int i = 0; i < rows; i++)
        {
            bool text = textLater && i > rows / 2;
            sb.Append(Id(r, "t", r.Next(60), numericTasks && !text)).Append(',')
              .Append(Id(r, "w", r.Next(20), numericWorkers && !text)).Append(',')
              .Append(labels[r.Next(r.Next(2) == 0 ? 2 : 4)]);
            if (i + 1 < rows || r.Next(2) == 0) sb.Append(r.Next(20) == 0 ? "\r" : nl);
            if (r.Next(25) == 0) sb.Append(nl);
        }
        return sb.ToString();
    }

    [Fact]
    public void Same_matrix_as_the_streaming_reader_for_any_chunking_and_threads()
    {
        var r = new Random(15);
        var policies = Enum.GetValues<DuplicatePolicy>();
        for (int f = 0; f < 60; f++)
        {
            bool nt = r.Next(2) == 0, nw = r.Next(2) == 0;
            var path = Write($"r{f}.csv", RandomFile(r, nt, nw, textLater: r.Next(4) == 0));
            var options = new AnswerFileOptions(Duplicates: policies[r.Next(policies.Length)],
                ClassOrder: r.Next(3) == 0 ? ClassOrder.FirstSeen : ClassOrder.Sorted,
                Classes: r.Next(5) == 0 ? ["dog", "cat", "big, dog", "café"] : null);
            AllAgree(path, options);
        }
    }

    /// <summary>
    /// Files of the usual plain form (integer ids, one-character classes), which the reader takes a record at a time in
    /// one pass, with records just off that form mixed in — two-character and quoted classes, leading zeros, ten
    /// digits, a sign, spaces, a lone CR, a missing or an extra field, an empty class, a quoted id, blank lines — each
    /// read as the streaming reader reads it (the same matrix, or the same error).
    /// </summary>
    [Fact]
    public void Plain_integer_files_and_near_misses_read_as_the_streaming_reader_reads_them()
    {
        var r = new Random(23);
        string[] nearMisses = ["{0},{1},10", "0{0},{1},1", "{0},0{1},0", "1234567890,{1},1", "-{0},{1},0", "{0}, {1},1",
            "{0},{1},\"1\"", "\"{0}\",{1},1", "{0},{1}", "{0},{1},1,", "{0},{1},", "{0},{1},y", "{0},{1}, ", "{0},{1},é",
            "{0},,1", "{0}x,{1},1", "{0},{1},1\r"];
        int errors = 0;
        for (int f = 0; f < 80; f++)
        {
            var sb = new StringBuilder();
            string nl = r.Next(2) == 0 ? "\n" : "\r\n";
            sb.Append("task,worker,label").Append(nl);
            int rows = r.Next(1, 300);
            bool clean = r.Next(3) == 0;
            for (int i = 0; i < rows; i++)
            {
                string task = r.Next(80).ToString(System.Globalization.CultureInfo.InvariantCulture);
                string worker = r.Next(15).ToString(System.Globalization.CultureInfo.InvariantCulture);
                if (!clean && r.Next(40) == 0) sb.Append(string.Format(System.Globalization.CultureInfo.InvariantCulture, nearMisses[r.Next(nearMisses.Length)], task, worker));
                else sb.Append(task).Append(',').Append(worker).Append(',').Append("01y"[r.Next(3)]);
                if (i + 1 < rows || r.Next(2) == 0) sb.Append(r.Next(30) == 0 ? "\r" : nl);
                if (r.Next(30) == 0) sb.Append(nl);
            }
            var path = Write($"p{f}.csv", sb.ToString());
            var options = new AnswerFileOptions(Duplicates: r.Next(2) == 0 ? DuplicatePolicy.KeepLast : DuplicatePolicy.KeepAll);
            if (Streaming(path, options).Error is not null) errors++;
            AllAgree(path, options);
        }
        // Both kinds were met: files the readers take and files they refuse.
        Assert.InRange(errors, 1, 79);
    }

    [Fact]
    public void An_error_in_the_last_chunk_names_its_line()
    {
        var sb = new StringBuilder("task,worker,label\n");
        for (int i = 0; i < 500; i++) sb.Append($"t{i},w{i % 7},cat\n");
        sb.Append("t9,,dog\n");                   // line 502: an empty worker
        var path = Write("late.csv", sb.ToString());
        foreach (int chunk in ChunkSizes)
        {
            var e = Assert.Throws<TallyDataException>(() => AnswerFiles.ReadAnswers(path, new AnswerFileOptions(), null, null, chunk));
            Assert.Equal(502, e.Line);
            Assert.Contains("empty worker", e.Message);
        }
        // Errors the chunk parser finds itself: a bad byte, a quote never closed, text after a closing quote.
        foreach (var (tail, line) in new[] { ("t1,w1,\"cat\n", 502L), ("t1,w1,\"cat\"x\n", 502L), ("t1,w1,c\u00e9t\n", 502L) })
        {
            var bytes = Encoding.UTF8.GetBytes(sb.ToString()[..^8] + tail);
            if (tail.Contains('\u00e9')) bytes[^3] = 0xFF; // é's first byte made invalid UTF-8
            var bad = Write("late-bad.csv", bytes);
            var expected = Streaming(bad, new AnswerFileOptions()).Error;
            Assert.NotNull(expected);
            var e = Assert.Throws<TallyDataException>(() => AnswerFiles.ReadAnswers(bad, new AnswerFileOptions(), null, null, 64));
            Assert.Equal(expected, e.Message);
            Assert.Equal(line, e.Line);
        }
    }

    [Fact]
    public void Quoted_line_breaks_across_chunk_boundaries_are_one_field()
    {
        // Every task id holds line breaks, so small chunks start inside quoted fields and must be parsed again.
        var sb = new StringBuilder("task,worker,label\r\n");
        for (int i = 0; i < 200; i++) sb.Append($"\"task\n{i}\r\nend\",w{i % 5},{(i % 3 == 0 ? "dog" : "cat")}\r\n");
        var path = Write("multiline.csv", sb.ToString());
        AllAgree(path, new AnswerFileOptions());
        var m = AnswerFiles.ReadAnswers(path, new AnswerFileOptions(), null, null, 16).Matrix;
        Assert.Equal(200, m.TaskCount);
        Assert.Contains("task\n7\r\nend", m.Tasks.Names);
    }

    [Fact]
    public void A_duplicate_in_another_chunk_is_found_with_both_lines()
    {
        var sb = new StringBuilder("\uFEFFtask,worker,label\r\n");
        for (int i = 0; i < 300; i++) sb.Append($"{i},{i % 11},1\r\n");
        sb.Append("3,3,0\r\n");                        // line 302 repeats line 5 (task 3, worker 3)
        var path = Write("dup.csv", sb.ToString());
        var e = Assert.Throws<TallyDataException>(() =>
            AnswerFiles.ReadAnswers(path, new AnswerFileOptions(Duplicates: DuplicatePolicy.Error), null, null, 32));
        Assert.Equal(302, e.Line);
        Assert.Contains("first at line 5", e.Message);
        var kept = AnswerFiles.ReadAnswers(path, new AnswerFileOptions(), null, null, 32);
        Assert.Equal(1, kept.DroppedDuplicates);
        Assert.Equal(0, kept.Matrix.LabelsOf(3)[0]);   // keep-last: the later answer, from the later chunk
        AllAgree(path, new AnswerFileOptions(Duplicates: DuplicatePolicy.KeepFirst));
    }

    [Fact]
    public void Byte_order_mark_crlf_and_integer_ids_that_turn_to_text_later()
    {
        var sb = new StringBuilder("\uFEFFtask,worker,label\r\n");
        for (int i = 0; i < 300; i++) sb.Append($"{i},{i % 13},{i % 2}\r\n");
        sb.Append("x7,w1,1\r\n");                       // the last chunk has a task id that is not an integer
        var path = Write("turn.csv", sb.ToString());
        AllAgree(path, new AnswerFileOptions());
        var m = AnswerFiles.ReadAnswers(path, new AnswerFileOptions(), null, null, 64).Matrix;
        Assert.Equal(301, m.TaskCount);
        Assert.Equal("0", m.Tasks[0]);
        Assert.Equal("x7", m.Tasks[300]);              // ordinal order once one id is not a number: "0" < "1" < … < "x7"
    }
}
