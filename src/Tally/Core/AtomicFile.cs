using System.Runtime.InteropServices;
using System.Text;

namespace Tally.Core;

/// <summary>
/// Crash-safe file replacement: the content goes to a temporary file in the target's directory, is flushed to disk,
/// renamed over the target (an atomic replace on POSIX file systems), and the directory entry is flushed too. A crash
/// or kill at any point leaves either the complete old file or the complete new one, never a torn or empty file.
/// </summary>
public static class AtomicFile
{
    /// <summary>Writes UTF-8 text (no BOM, \n line ends) atomically; returns <paramref name="path"/>.</summary>
    public static string WriteText(string path, Action<TextWriter> write) => Write(path, s =>
    {
        using var w = new StreamWriter(s, new UTF8Encoding(false), 1 << 16, leaveOpen: true) { NewLine = "\n" };
        write(w);
    });

    /// <summary>Writes bytes produced by <paramref name="write"/> atomically; returns <paramref name="path"/>.</summary>
    /// <exception cref="TallyUserException">The file system refused (no permission, disk full, no such folder), told in terms of <paramref name="path"/>.</exception>
    public static string Write(string path, Action<Stream> write)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(write);
        string full = Path.GetFullPath(path);
        string directory = Path.GetDirectoryName(full)!;
        // Unique per call, so two writers (threads or processes) never share a temporary file.
        string tmp = Path.Combine(directory, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(fs);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            try { File.Delete(tmp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            // Told as the target the user named: the temporary file is an implementation detail.
            throw new TallyUserException($"cannot write {Quote.Bare(path)}: {FileErrors.Reason(e, tmp)}", e);
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { }
            throw;
        }
        SyncDirectory(directory);
        RemoveOrphans(directory, Path.GetFileName(full));
        return path;
    }

    /// <summary>
    /// Deletes temporary files of <paramref name="name"/> left by writers that were killed mid-write (their process is
    /// gone), so repeated crashes do not pile up litter; files of live writers are left alone.
    /// </summary>
    private static void RemoveOrphans(string directory, string name)
    {
        try
        {
            foreach (var file in Directory.EnumerateFiles(directory, $".{name}.*.tmp"))
            {
                var parts = Path.GetFileName(file)[(name.Length + 2)..].Split('.');
                if (parts.Length != 3 || !int.TryParse(parts[0], out int pid) || pid == Environment.ProcessId) continue;
                if (IsRunning(pid)) continue;
                try { File.Delete(file); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    private static bool IsRunning(int pid)
    {
        try
        {
            using var p = System.Diagnostics.Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException) { return false; }
        catch (InvalidOperationException) { return false; }
    }

    /// <summary>
    /// fsync of the directory, so the rename itself survives a power loss (without it the directory entry may still
    /// name the old inode after a reboot). Best effort: not available on Windows, where the rename is already durable.
    /// </summary>
    private static void SyncDirectory(string directory)
    {
        if (!(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD())) return;
        try
        {
            int fd = Open(directory, 0 /* O_RDONLY */);
            if (fd < 0) return;
            try { _ = Fsync(fd); }
            finally { _ = Close(fd); }
        }
        catch (DllNotFoundException) { }
        catch (EntryPointNotFoundException) { }
    }

    // DllImport rather than LibraryImport: the latter needs unsafe code enabled for the whole library.
    [DllImport("libc", EntryPoint = "open", CharSet = CharSet.Ansi, BestFitMapping = false)]
    private static extern int Open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

    [DllImport("libc", EntryPoint = "fsync")]
    private static extern int Fsync(int fd);

    [DllImport("libc", EntryPoint = "close")]
    private static extern int Close(int fd);
}
