namespace Tally.Core;

/// <summary>Extra files of a bundled dataset (features, test splits) beside its answers and truth.</summary>
public static class BundledDatasetFiles
{
    /// <summary>
    /// The full path of <paramref name="fileName"/> in the dataset's folder, e.g.
    /// <c>BundledDatasets.Get("music-genre").File("train-features.csv")</c>.
    /// </summary>
    /// <exception cref="TallyDataException">The folder has no such file (the message lists the files it has).</exception>
    public static string File(this BundledDataset dataset, string fileName)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        var path = Path.Combine(dataset.Directory, fileName);
        if (System.IO.File.Exists(path)) return path;
        var present = Directory.GetFiles(dataset.Directory).Select(Path.GetFileName).Order(StringComparer.Ordinal);
        throw new TallyDataException(path, 0, $"bundled dataset '{dataset.Name}' has no file {fileName} (it has: {string.Join(", ", present)})");
    }

    /// <summary>The full path of <paramref name="fileName"/> in bundled dataset <paramref name="name"/>.</summary>
    /// <exception cref="TallyDataException">No such dataset or file.</exception>
    public static string File(string name, string fileName) => BundledDatasets.Get(name).File(fileName);
}
