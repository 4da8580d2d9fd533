namespace Tally.Core;

/// <summary>
/// Why the file system refused, in a few words and without the names of Tally's own temporary files (a probe, the
/// temporary file of <see cref="AtomicFile"/>): the user knows the path they gave, not ours.
/// </summary>
public static class FileErrors
{
    /// <summary>
    /// "permission denied", "no space left on device", "read-only file system", or the system's message with
    /// <paramref name="internalPath"/> (and its quoted forms) removed.
    /// </summary>
    public static string Reason(Exception e, string? internalPath = null)
    {
        ArgumentNullException.ThrowIfNull(e);
        if (e is UnauthorizedAccessException) return "permission denied";
        if (e is DirectoryNotFoundException) return "the folder does not exist";
        // Creating a file where the file system has no room for new names (/proc, a pseudo-file system).
        if (e is FileNotFoundException) return "files cannot be created there";
        // HResult low 16 bits carry errno on Unix: ENOSPC = 28, EROFS = 30, EDQUOT = 122; Windows: 112 = disk full.
        int code = e.HResult & 0xFFFF;
        if (code is 28 or 112) return "no space left on device";
        if (code == 30) return "read-only file system";
        if (code == 122) return "disk quota exceeded";
        string message = e.Message;
        if (!string.IsNullOrEmpty(internalPath))
        {
            message = message.Replace($"'{internalPath}'", "", StringComparison.Ordinal)
                .Replace($": '{internalPath}'", "", StringComparison.Ordinal)
                .Replace(internalPath, "", StringComparison.Ordinal);
            message = string.Join(' ', message.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Replace(" .", ".", StringComparison.Ordinal).Replace(" :", ":", StringComparison.Ordinal);
        }
        return message.TrimEnd('.', ' ', ':');
    }
}
