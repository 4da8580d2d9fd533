using System.Buffers.Binary;
using System.IO.Compression;
using Tally.Core;

namespace Tally.Tests;

public sealed class IdxFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tally-idx-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>An IDX file: magic 00 00 type rank, big-endian sizes, then the data (optionally gzip-compressed).</summary>
    private string WriteIdx(string name, int[] dims, byte[] data, bool gzip = false, byte type = 0x08, int extra = 0)
    {
        var bytes = new List<byte> { 0, 0, type, (byte)dims.Length };
        var size = new byte[4];
        foreach (int d in dims) { BinaryPrimitives.WriteInt32BigEndian(size, d); bytes.AddRange(size); }
        bytes.AddRange(data);
        for (int i = 0; i < extra; i++) bytes.Add(0);
        var path = Path.Combine(_dir, name);
        if (!gzip) File.WriteAllBytes(path, bytes.ToArray());
        else
        {
            using var f = File.Create(path);
            using var z = new GZipStream(f, CompressionLevel.Fastest);
            z.Write(bytes.ToArray());
        }
        return path;
    }

    private static byte[] Ramp(int n) => Enumerable.Range(0, n).Select(i => (byte)(i * 7 % 256)).ToArray();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ReadsImages_PlainOrGzip(bool gzip)
    {
        var data = Ramp(3 * 2 * 4);
        var p = WriteIdx(gzip ? "img.gz" : "img", [3, 2, 4], data, gzip);
        var a = IdxFile.ReadImages(p);
        Assert.Equal([3, 2, 4], a.Dimensions.ToArray());
        Assert.Equal(3, a.Count);
        Assert.Equal(8, a.ItemSize);
        Assert.Equal(data, a.Data.ToArray());
        Assert.Equal(data[8..16], a.Item(1).ToArray());
    }

    [Fact]
    public void GzipIsRecognisedByContentNotName()
    {
        var p = WriteIdx("labels-no-extension", [5], [1, 2, 3, 4, 5], gzip: true);
        Assert.Equal([1, 2, 3, 4, 5], IdxFile.ReadLabels(p));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Take_ReadsOnlyThePrefix(bool gzip)
    {
        var data = Ramp(10 * 4);
        var p = WriteIdx("x", [10, 2, 2], data, gzip);
        var a = IdxFile.Read(p, take: 3);
        Assert.Equal([3, 2, 2], a.Dimensions.ToArray());
        Assert.Equal([10, 2, 2], a.FileDimensions.ToArray());
        Assert.Equal(data[..12], a.Data.ToArray());
        Assert.Equal(10, IdxFile.Read(p, take: 50).Count);
        Assert.Equal(0, IdxFile.Read(p, take: 0).Count);
    }

    [Fact]
    public void Errors_NameTheProblem()
    {
        string Problem(string p) => Assert.Throws<TallyDataException>(() => IdxFile.Read(p)).Problem;

        var badMagic = Path.Combine(_dir, "magic");
        File.WriteAllBytes(badMagic, [1, 2, 8, 1, 0, 0, 0, 0]);
        Assert.Equal("bad magic number 0x01020801 (IDX files start with two zero bytes)", Problem(badMagic));

        Assert.Equal("element type 0x0D is not supported (only 0x08, unsigned byte)", Problem(WriteIdx("float", [1], [0, 0, 0, 0], type: 0x0D)));
        Assert.Equal("declares 0 dimensions", Problem(WriteIdx("rank0", [], [])));
        Assert.Equal("ends after 2 of the 3 items it declares (5 of 6 data bytes)", Problem(WriteIdx("short", [3, 2], [1, 2, 3, 4, 5])));
        Assert.Equal("ends after 2 of the 3 items it declares (5 of 6 data bytes)", Problem(WriteIdx("short.gz", [3, 2], [1, 2, 3, 4, 5], gzip: true)));
        Assert.Equal("has bytes after the 2 items its header declares", Problem(WriteIdx("long", [2], [1, 2], extra: 1)));
        Assert.Equal("dimension 1 has size 0 (at byte 8)", Problem(WriteIdx("zero", [2, 0], [])));
        Assert.Equal("dimension 0 has size 4294967295 (at byte 4)", Problem(WriteIdx("neg", [-1], [])));

        var tiny = Path.Combine(_dir, "tiny");
        File.WriteAllBytes(tiny, [0, 0]);
        Assert.Equal("is 2 bytes long; an IDX file starts with a 4-byte magic number", Problem(tiny));

        var headerCut = Path.Combine(_dir, "cut");
        File.WriteAllBytes(headerCut, [0, 0, 8, 2, 0, 0, 0, 1]);
        Assert.Equal("ends inside the header (expected 2 dimension sizes)", Problem(headerCut));

        Assert.Equal("file not found", Problem(Path.Combine(_dir, "absent")));

        var e = Assert.Throws<TallyDataException>(() => IdxFile.ReadImages(WriteIdx("vec", [2], [1, 2])));
        Assert.Equal("has 1 dimensions; images need 3 (count × rows × columns)", e.Problem);
        e = Assert.Throws<TallyDataException>(() => IdxFile.ReadLabels(WriteIdx("mat", [1, 1, 1], [1])));
        Assert.Equal("has 3 dimensions; labels need 1", e.Problem);
    }

    [Fact]
    public void FashionMnistLayout_InAnyFolder_LoadsScaledPixels()
    {
        var pixels = new byte[] { 0, 255, 51, 102, 0, 0, 0, 255 };
        WriteIdx("train-images-idx3-ubyte", [2, 2, 2], pixels);
        WriteIdx("train-labels-idx1-ubyte.gz", [2], [9, 0], gzip: true);
        WriteIdx("t10k-images-idx3-ubyte", [1, 2, 2], [1, 2, 3, 4]);
        WriteIdx("t10k-labels-idx1-ubyte", [1], [3]);
        var files = FashionMnist.TryLocate(_dir);
        Assert.NotNull(files);
        Assert.EndsWith(".gz", files!.TrainLabels);
        var d = FashionMnist.Load(directory: _dir);
        Assert.Equal(2, d.Count);
        Assert.Equal((2, 2), (d.Rows, d.Columns));
        Assert.Equal([9, 0], d.Labels);
        Assert.Equal([0, 1, 0.2, 0.4], d.Features[0]);
        Assert.Equal("Ankle boot", d.Classes[d.Labels[0]]);
        Assert.Equal([3], FashionMnist.Load(split: FashionMnistSplit.Test, directory: _dir).Labels);
    }

    [Fact]
    public void FashionMnistLayout_MismatchedCountsAndBadLabels()
    {
        WriteIdx("i", [2, 1, 1], [1, 2]);
        WriteIdx("l", [3], [0, 1, 2]);
        WriteIdx("l10", [2], [0, 10]);
        var e = Assert.Throws<TallyDataException>(() =>
            FashionMnist.Load(Path.Combine(_dir, "i"), Path.Combine(_dir, "l"), null, FashionMnist.Classes));
        Assert.Equal($"holds 3 labels but {Path.Combine(_dir, "i")} holds 2 images", e.Problem);
        e = Assert.Throws<TallyDataException>(() =>
            FashionMnist.Load(Path.Combine(_dir, "i"), Path.Combine(_dir, "l10"), null, FashionMnist.Classes));
        Assert.Equal("label 10 of item 1 is not a class index below 10", e.Problem);
        Assert.Null(FashionMnist.TryLocate(_dir));
        e = Assert.Throws<TallyDataException>(() => FashionMnist.Locate(_dir));
        Assert.Contains("apt-get install dataset-fashion-mnist", e.Problem);
    }

    /// <summary>
    /// The real data from the Debian package dataset-fashion-mnist. .ci/run installs it; a plain 'dotnet test' on a
    /// fresh machine installs it here (once, when running as root with apt), as the README's two commands promise.
    /// </summary>
    private static FashionMnistFiles RealFiles() =>
        FashionMnist.TryLocate() ?? (Installed.Value ? FashionMnist.TryLocate() : null) ?? throw new Xunit.Sdk.XunitException(
            "Fashion-MNIST is not installed: " + FashionMnist.InstallHint + " (.ci/run does this).");

    private static readonly Lazy<bool> Installed = new(() =>
    {
        if (!OperatingSystem.IsLinux() || Environment.UserName != "root" || !File.Exists("/usr/bin/apt-get")) return false;
        foreach (var args in new[] { "update -qq", "install -y -qq dataset-fashion-mnist" })
        {
            var psi = new System.Diagnostics.ProcessStartInfo("/usr/bin/apt-get", args) { RedirectStandardOutput = true, RedirectStandardError = true };
            psi.Environment["DEBIAN_FRONTEND"] = "noninteractive";
            using var p = System.Diagnostics.Process.Start(psi)!;
            p.StandardOutput.ReadToEndAsync();
            p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(300_000) || p.ExitCode != 0) return false;
        }
        return true;
    });

    [Fact]
    public void FashionMnist_Real_First1000TrainingImages()
    {
        var files = RealFiles();
        var d = FashionMnist.Load(1000, FashionMnistSplit.Train, files.Directory);
        Assert.Equal(1000, d.Count);
        Assert.Equal((28, 28), (d.Rows, d.Columns));
        Assert.All(d.Features, r => Assert.Equal(784, r.Length));
        Assert.All(d.Features, r => Assert.All(r, v => Assert.InRange(v, 0.0, 1.0)));
        // Known start of the training labels (Ankle boot, T-shirt/top, T-shirt/top, Dress, …).
        Assert.Equal([9, 0, 0, 3, 0, 2, 7, 2, 5, 5], d.Labels[..10]);
        var perClass = d.Labels.GroupBy(l => l).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(10, perClass.Count);
        Assert.All(perClass.Values, c => Assert.InRange(c, 80, 120));
        Assert.Equal(76247, Math.Round(d.Features[0].Sum() * 255));

        var images = IdxFile.ReadImages(files.TrainImages, 5);
        Assert.Equal([60000, 28, 28], images.FileDimensions.ToArray());
    }

    [Fact]
    public void FashionMnist_Real_TestSplit()
    {
        var files = RealFiles();
        var d = FashionMnist.Load(1000, FashionMnistSplit.Test, files.Directory);
        Assert.Equal(1000, d.Count);
        Assert.Equal([9, 2, 1, 1, 6, 1, 4, 6, 5, 7], d.Labels[..10]);
        Assert.Equal(10000, IdxFile.Read(files.TestLabels).Count);
    }
}
