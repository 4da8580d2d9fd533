namespace Tally.Core;

/// <summary>Which Fashion-MNIST split.</summary>
public enum FashionMnistSplit
{
    /// <summary>The 60,000 training images (<c>train-*</c>).</summary>
    Train,
    /// <summary>The 10,000 test images (<c>t10k-*</c>).</summary>
    Test,
}

/// <summary>Where the four Fashion-MNIST files are.</summary>
/// <param name="Directory">The folder holding them.</param>
/// <param name="TrainImages">train-images-idx3-ubyte(.gz).</param>
/// <param name="TrainLabels">train-labels-idx1-ubyte(.gz).</param>
/// <param name="TestImages">t10k-images-idx3-ubyte(.gz).</param>
/// <param name="TestLabels">t10k-labels-idx1-ubyte(.gz).</param>
public sealed record FashionMnistFiles(string Directory, string TrainImages, string TrainLabels, string TestImages, string TestLabels);

/// <summary>Images as feature vectors with their classes.</summary>
/// <param name="Features">One row per image: its pixels in row-major order, scaled from 0..255 to [0, 1].</param>
/// <param name="Labels">Class index of each image.</param>
/// <param name="Classes">Class names by index.</param>
/// <param name="Rows">Image height in pixels.</param>
/// <param name="Columns">Image width in pixels.</param>
public sealed record LabelledImages(double[][] Features, int[] Labels, IReadOnlyList<string> Classes, int Rows, int Columns)
{
    /// <summary>Number of images.</summary>
    public int Count => Labels.Length;
}

/// <summary>
/// Finds and loads Fashion-MNIST (Xiao, Rasul, Vollgraf, "Fashion-MNIST: a novel image dataset for benchmarking
/// machine learning algorithms", arXiv:1708.07747, 2017; MIT licence): 28 × 28 grey-scale images of 10 kinds of
/// clothing, 60,000 for training and 10,000 for testing, in IDX files. Tally does not ship it; Debian and Ubuntu
/// package it as <c>dataset-fashion-mnist</c>, which installs the gzip-compressed files into
/// <see cref="DebianDirectory"/> (the CI script installs it).
/// </summary>
public static class FashionMnist
{
    /// <summary>Where the Debian package <c>dataset-fashion-mnist</c> puts the files.</summary>
    public const string DebianDirectory = "/usr/share/datasets/fashion-mnist";

    /// <summary>Environment variable naming another folder holding the four files (checked first).</summary>
    public const string EnvironmentVariable = "FASHION_MNIST";

    /// <summary>How to get the files, for error messages.</summary>
    public const string InstallHint =
        "install it with 'apt-get update && apt-get install dataset-fashion-mnist' (Debian/Ubuntu; files go to " + DebianDirectory +
        "), or set " + EnvironmentVariable + " to a folder holding train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, " +
        "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz (from https://github.com/zalandoresearch/fashion-mnist)";

    /// <summary>The ten classes in label order, as named by the dataset's authors.</summary>
    public static IReadOnlyList<string> Classes { get; } =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    /// <summary>The files in the folder named by <c>FASHION_MNIST</c>, else in <see cref="DebianDirectory"/>; null if
    /// neither holds all four (each may be gzip-compressed <c>.gz</c> or not).</summary>
    public static FashionMnistFiles? TryLocate()
    {
        var env = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrEmpty(env) && TryLocate(env) is { } fromEnv) return fromEnv;
        return TryLocate(DebianDirectory);
    }

    /// <summary>The files in <paramref name="directory"/>, or null if any of the four is missing.</summary>
    public static FashionMnistFiles? TryLocate(string directory)
    {
        if (!System.IO.Directory.Exists(directory)) return null;
        string? Find(string stem)
        {
            foreach (var name in new[] { stem + ".gz", stem })
            {
                var p = Path.Combine(directory, name);
                if (File.Exists(p)) return p;
            }
            return null;
        }
        var trainImages = Find("train-images-idx3-ubyte");
        var trainLabels = Find("train-labels-idx1-ubyte");
        var testImages = Find("t10k-images-idx3-ubyte");
        var testLabels = Find("t10k-labels-idx1-ubyte");
        if (trainImages is null || trainLabels is null || testImages is null || testLabels is null) return null;
        return new FashionMnistFiles(Path.GetFullPath(directory), trainImages, trainLabels, testImages, testLabels);
    }

    /// <summary>The files, or an error telling how to install them.</summary>
    /// <exception cref="TallyDataException">Fashion-MNIST is not found.</exception>
    public static FashionMnistFiles Locate(string? directory = null)
    {
        var files = directory is null ? TryLocate() : TryLocate(directory);
        return files ?? throw new TallyDataException(directory ?? DebianDirectory, 0, "Fashion-MNIST not found; " + InstallHint);
    }

    /// <summary>
    /// Loads the first <paramref name="take"/> images (all when null) of a split with their labels, pixels scaled to
    /// [0, 1]. The files are read only as far as needed, so small subsets load quickly.
    /// </summary>
    /// <param name="take">How many images (from the start of the file); null = all.</param>
    /// <param name="split">Training or test images.</param>
    /// <param name="directory">Folder of the files; null = <see cref="TryLocate()"/>.</param>
    /// <exception cref="TallyDataException">The data is not found, a file is malformed, the two files disagree on the
    /// number of images, or a label is not a class index (0–9).</exception>
    public static LabelledImages Load(int? take = null, FashionMnistSplit split = FashionMnistSplit.Train, string? directory = null)
    {
        var files = Locate(directory);
        var (imagesPath, labelsPath) = split == FashionMnistSplit.Train
            ? (files.TrainImages, files.TrainLabels)
            : (files.TestImages, files.TestLabels);
        return Load(imagesPath, labelsPath, take, Classes);
    }

    /// <summary>Loads images and labels from any pair of unsigned-byte IDX files (MNIST, Fashion-MNIST, …).</summary>
    /// <param name="imagesPath">3-dimensional IDX file (count × rows × columns).</param>
    /// <param name="labelsPath">1-dimensional IDX file with the same count.</param>
    /// <param name="take">How many images; null = all.</param>
    /// <param name="classes">Class names; labels must be below their number.</param>
    public static LabelledImages Load(string imagesPath, string labelsPath, int? take, IReadOnlyList<string> classes)
    {
        var images = IdxFile.ReadImages(imagesPath, take);
        var labelArray = IdxFile.Read(labelsPath, take);
        if (labelArray.FileDimensions.Length != 1)
            throw new TallyDataException(labelsPath, 0, $"has {labelArray.FileDimensions.Length} dimensions; labels need 1");
        if (labelArray.FileDimensions[0] != images.FileDimensions[0])
            throw new TallyDataException(labelsPath, 0,
                $"holds {labelArray.FileDimensions[0]} labels but {imagesPath} holds {images.FileDimensions[0]} images");
        int n = images.Count, size = images.ItemSize;
        var features = new double[n][];
        var labels = new int[n];
        var raw = labelArray.Data;
        for (int i = 0; i < n; i++)
        {
            labels[i] = raw[i];
            if (labels[i] >= classes.Count)
                throw new TallyDataException(labelsPath, 0, $"label {labels[i]} of item {i} is not a class index below {classes.Count}");
            var pixels = images.Item(i);
            var row = features[i] = new double[size];
            for (int j = 0; j < size; j++) row[j] = pixels[j] / 255.0;
        }
        return new LabelledImages(features, labels, classes, images.Dimensions[1], images.Dimensions[2]);
    }
}
