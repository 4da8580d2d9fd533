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

    [Theory]
    [InlineData(true, null, false)]
    [InlineData(true, "1", false)]
    [InlineData(false, "1", false)]
    [InlineData(false, "true", false)]
    [InlineData(false, null, true)]
    [InlineData(false, "", true)]
    [InlineData(false, "0", true)]
    public void FashionMnist_tests_skip_only_when_the_data_is_missing_and_not_required(bool found, string? require, bool skips)
    {
        var reason = FashionMnistFactAttribute.SkipReason(found, require);
        if (!skips) Assert.Null(reason);
        else
        {
            // The reason tells how to get the data (the hint names the Debian package and the FASHION_MNIST variable).
            Assert.StartsWith("Fashion-MNIST is not installed: ", reason);
            Assert.Contains("apt-get install dataset-fashion-mnist", reason);
            Assert.Contains(FashionMnist.EnvironmentVariable, reason);
        }
    }

    /// <summary>CI must really run the Fashion-MNIST tests: .ci/run installs the data and makes a missing one a failure.</summary>
    [Fact]
    public void Ci_installs_fashion_mnist_and_requires_it()
    {
        var ci = File.ReadAllText(Path.Combine(TestData.RepoRoot, ".ci", "run"));
        Assert.Contains("apt-get install -y -qq dataset-fashion-mnist", ci);
        Assert.Contains($"export {FashionMnistFactAttribute.RequireVariable}=1", ci);
        // And no test starts a package manager itself (the needles are built here so that this file does not match).
        string[] needles = ["/usr/bin/" + "apt-get", "ProcessStartInfo(\"" + "apt", "ProcessStartInfo(\"" + "dpkg"];
        foreach (var file in Directory.GetFiles(Path.Combine(TestData.RepoRoot, "tests"), "*.cs", SearchOption.AllDirectories))
        {
            if (file.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)) continue;
            var text = File.ReadAllText(file);
            foreach (var needle in needles) Assert.False(text.Contains(needle, StringComparison.Ordinal), $"{file} starts {needle}");
        }
    }

    [FashionMnistFact]
    public void FashionMnist_Real_First1000TrainingImages()
    {
        var files = FashionMnistFactAttribute.Files();
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

    [FashionMnistFact]
    public void FashionMnist_Real_TestSplit()
    {
        var files = FashionMnistFactAttribute.Files();
        var d = FashionMnist.Load(1000, FashionMnistSplit.Test, files.Directory);
        Assert.Equal(1000, d.Count);
        Assert.Equal([9, 2, 1, 1, 6, 1, 4, 6, 5, 7], d.Labels[..10]);
        Assert.Equal(10000, IdxFile.Read(files.TestLabels).Count);
    }
}
