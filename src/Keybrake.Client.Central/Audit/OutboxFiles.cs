using System.Globalization;
using System.Security.Cryptography;
using System.Text.RegularExpressions;

namespace Keybrake.Client.Central;

/// <summary>
/// Names the outbox files of the processes that share one configured <c>OutboxPath</c>. Each process writes
/// only its own file, <c>&lt;name&gt;.p&lt;pid&gt;-&lt;random&gt;&lt;extension&gt;</c> beside the configured path, so
/// a call's INSERT never waits on another process's write lock. The owner holds an exclusive OS lock on
/// <c>&lt;file&gt;.lock</c> for as long as it lives; the lock goes with the process however it ends (SIGKILL
/// included), so a process that can take it knows the owner is gone and may ship what it left.
/// </summary>
internal static partial class OutboxFiles
{
    /// <summary>A new file name for this process beside <paramref name="configured"/>.</summary>
    public static string OwnPath(string configured)
    {
        var token = string.Create(CultureInfo.InvariantCulture, $"p{Environment.ProcessId}-{RandomNumberGenerator.GetHexString(8, lowercase: true)}");
        return Path.Combine(Directory(configured), $"{Path.GetFileNameWithoutExtension(configured)}.{token}{Path.GetExtension(configured)}");
    }

    /// <summary>The per-process outbox files beside <paramref name="configured"/> other than <paramref name="own"/>, live or not.</summary>
    public static IEnumerable<string> Others(string configured, string own)
    {
        var directory = Directory(configured);
        if (!System.IO.Directory.Exists(directory))
        {
            return [];
        }

        var stem = Path.GetFileNameWithoutExtension(configured) + ".";
        var extension = Path.GetExtension(configured);
        return System.IO.Directory.EnumerateFiles(directory, stem + "*" + extension)
            .Where(path =>
            {
                var name = Path.GetFileName(path);
                return name.Length > stem.Length + extension.Length
                    && name.StartsWith(stem, StringComparison.Ordinal)
                    && name.EndsWith(extension, StringComparison.Ordinal)
                    && Token().IsMatch(name.AsSpan(stem.Length, name.Length - stem.Length - extension.Length))
                    && !string.Equals(path, own, StringComparison.Ordinal);
            })
            .ToList();
    }

    /// <summary>Takes the exclusive lock of <paramref name="outbox"/>, or null when its owner (or another adopter) holds it.</summary>
    public static FileStream? TryLock(string outbox)
    {
        try
        {
            return new FileStream(outbox + ".lock", FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>Whether the OS lock this process holds on <paramref name="outbox"/> keeps a second opener out, as it does unless file locking is turned off.</summary>
    public static bool LocksHold(string outbox)
    {
        if (TryLock(outbox) is not { } second)
        {
            return true;
        }

        second.Dispose();
        return false;
    }

    /// <summary>Releases a lock; removes the lock file once its outbox is gone (best effort: a stray lock file holds nothing).</summary>
    public static void Release(FileStream held, string outbox)
    {
        held.Dispose();
        if (!File.Exists(outbox))
        {
            TryDelete(outbox + ".lock");
        }
    }

    /// <summary>Deletes an outbox and its SQLite side files; called only while holding its lock, with no connection open.</summary>
    public static void Delete(string outbox)
    {
        // The file itself first: once it is gone no process takes it for an outbox, whatever happens next.
        File.Delete(outbox);
        File.Delete(outbox + "-wal");
        File.Delete(outbox + "-shm");
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
            // another process took the lock again in between: it cleans up after itself
        }
        catch (UnauthorizedAccessException)
        {
            // the same, on a platform that refuses to delete an open file
        }
    }

    private static string Directory(string configured) => Path.GetDirectoryName(Path.GetFullPath(configured)) ?? ".";

    [GeneratedRegex("^p[0-9]+-[0-9a-f]{8}$")]
    private static partial Regex Token();
}
