using System.Collections.Immutable;
using System.Text;

namespace Tally.Learning;

/// <summary>
/// A trained classifier together with what it needs to be used on new data: the class names (its output order), the
/// feature column names it was trained on (checked on prediction), and the method that trained it.
/// </summary>
public sealed record LearnedModel
{
    private const uint Magic = 0x4D4C4C54; // "TLLM"
    /// <summary>The version of the file layout <see cref="Save(Stream)"/> writes (and the only one <see cref="Load(Stream)"/> reads).</summary>
    public const int FormatVersion = 1;

    /// <summary>Method that trained the classifier.</summary>
    public required string Method { get; init; }
    /// <summary>Class names, in the classifier's output order.</summary>
    public required ImmutableArray<string> Classes { get; init; }
    /// <summary>Feature column names, in input order.</summary>
    public required ImmutableArray<string> FeatureNames { get; init; }
    /// <summary>The classifier (a <see cref="DenseNetwork"/> when loaded from a file).</summary>
    public required IClassifier Classifier { get; init; }

    /// <summary>Writes the model: a small header (method, classes, feature names) and then the classifier's own bytes.</summary>
    public void Save(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        using (var bw = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
        {
            bw.Write(Magic);
            bw.Write(FormatVersion);
            bw.Write(Method);
            bw.Write(Classes.Length);
            foreach (var c in Classes) bw.Write(c);
            bw.Write(FeatureNames.Length);
            foreach (var f in FeatureNames) bw.Write(f);
        }
        Classifier.Save(stream);
    }

    /// <summary>Saves to <paramref name="path"/> crash-safely.</summary>
    public void Save(string path) => Core.AtomicFile.Write(path, Save);

    /// <summary>Reads a model written by <see cref="Save(Stream)"/> (its classifier must be a <see cref="DenseNetwork"/>).</summary>
    /// <exception cref="InvalidDataException">Not a Tally model, an unsupported version, or a corrupt file.</exception>
    public static LearnedModel Load(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        try
        {
            string method;
            string[] classes, features;
            using (var br = new BinaryReader(stream, Encoding.UTF8, leaveOpen: true))
            {
                if (br.ReadUInt32() != Magic) throw new InvalidDataException("not a Tally model file");
                int version = br.ReadInt32();
                if (version != FormatVersion) throw new InvalidDataException($"unsupported model format version {version}");
                method = ReadString(br, stream);
                int k = br.ReadInt32();
                // Every name takes at least one byte: a count beyond what is left is corrupt (and must not allocate).
                if (k < 1 || k > 1 << 20 || stream.CanSeek && k > stream.Length - stream.Position) throw new InvalidDataException("corrupt class count");
                classes = new string[k];
                for (int i = 0; i < k; i++) classes[i] = ReadString(br, stream);
                int d = br.ReadInt32();
                if (d < 0 || d > 1 << 26 || stream.CanSeek && d > stream.Length - stream.Position) throw new InvalidDataException("corrupt feature count");
                features = new string[d];
                for (int i = 0; i < d; i++) features[i] = ReadString(br, stream);
            }
            var network = DenseNetwork.LoadFrom(stream);
            if (network.ClassCount != classes.Length || network.FeatureCount != features.Length)
                throw new InvalidDataException("the network does not match the model's classes or features");
            return new LearnedModel { Method = method, Classes = [.. classes], FeatureNames = [.. features], Classifier = network };
        }
        catch (EndOfStreamException e) { throw new InvalidDataException("the model file is truncated", e); }
    }

    private static readonly System.Text.Encoding StrictUtf8 = new UTF8Encoding(false, throwOnInvalidBytes: true);

    /// <summary>A length-prefixed UTF-8 string as <see cref="BinaryWriter.Write(string)"/> writes it, checked: a corrupt
    /// length or invalid UTF-8 is an <see cref="InvalidDataException"/>, never a huge allocation or a U+FFFD.</summary>
    private static string ReadString(BinaryReader br, Stream stream)
    {
        int length;
        try { length = br.Read7BitEncodedInt(); }
        catch (FormatException e) { throw new InvalidDataException("corrupt string length", e); }
        if (length < 0 || length > 1 << 24 || stream.CanSeek && length > stream.Length - stream.Position)
            throw new InvalidDataException("corrupt string length");
        var bytes = br.ReadBytes(length);
        if (bytes.Length < length) throw new EndOfStreamException();
        try { return StrictUtf8.GetString(bytes); }
        catch (DecoderFallbackException e) { throw new InvalidDataException("a name is not valid UTF-8", e); }
    }

    /// <summary>Loads a model file.</summary>
    /// <exception cref="Core.TallyDataException">The file is missing, not a Tally model, of another format version, or corrupt.</exception>
    public static LearnedModel Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
            throw new Core.TallyDataException(path, 0, Directory.Exists(path) ? "is a folder, not a model file" : "file not found");
        using var fs = Core.TextFiles.OpenFile(path);
        return Load(fs, path);
    }

    /// <summary>Reads a model from <paramref name="stream"/>; errors name <paramref name="sourceName"/>.</summary>
    /// <exception cref="Core.TallyDataException">Not a Tally model, of another format version, or corrupt.</exception>
    public static LearnedModel Load(Stream stream, string sourceName)
    {
        try { return Load(stream); }
        catch (InvalidDataException e) { throw new Core.TallyDataException(sourceName, 0, e.Message, e); }
        catch (IOException e) { throw new Core.TallyDataException(sourceName, 0, "cannot be read: " + e.Message, e); }
    }
}

/// <summary>Parses model descriptions such as <c>linear</c>, <c>mlp:128</c> or <c>mlp:256,64</c>.</summary>
public static class ModelSpec
{
    /// <summary>The description of a network with these hidden layers: <c>linear</c> for none, else <c>mlp:W1,W2…</c> (what <see cref="HiddenLayers"/> reads back).</summary>
    public static string Format(ImmutableArray<int> hidden) =>
        hidden.IsDefaultOrEmpty ? "linear" : "mlp:" + string.Join(",", hidden.Select(h => h.ToString(System.Globalization.CultureInfo.InvariantCulture)));

    /// <summary>A human description: "linear (softmax regression)" or "mlp 128-64".</summary>
    public static string Describe(ImmutableArray<int> hidden) =>
        hidden.IsDefaultOrEmpty ? "linear (softmax regression)" : "mlp " + string.Join("-", hidden);

    /// <summary>Hidden layer widths for <paramref name="spec"/>: none for <c>linear</c> (softmax regression).</summary>
    /// <param name="spec">The description.</param>
    /// <param name="option">The option it came from, for the error.</param>
    /// <exception cref="Core.InvalidOptionException">Unknown kind or a bad width.</exception>
    public static ImmutableArray<int> HiddenLayers(string spec, string option = "Model")
    {
        ArgumentNullException.ThrowIfNull(spec);
        var s = spec.Trim().ToLowerInvariant();
        if (s is "linear" or "softmax" or "logistic") return [];
        if (s == "mlp") return [128];
        if (!s.StartsWith("mlp:", StringComparison.Ordinal))
            throw new Core.InvalidOptionException(option, $"'{spec}' is not a model: use linear, mlp, or mlp:WIDTH[,WIDTH…]");
        var parts = s[4..].Split(',', StringSplitOptions.TrimEntries);
        var widths = ImmutableArray.CreateBuilder<int>(parts.Length);
        foreach (var p in parts)
        {
            if (!int.TryParse(p, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int w) || w < 1 || w > 1 << 16)
                throw new Core.InvalidOptionException(option, $"'{spec}': hidden width '{p}' must be a whole number from 1 to 65536");
            widths.Add(w);
        }
        return widths.ToImmutable();
    }
}
