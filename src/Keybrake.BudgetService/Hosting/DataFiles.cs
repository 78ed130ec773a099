namespace Keybrake.BudgetService.Hosting;

/// <summary>
/// The service's files are its own: the data directory is 0700 and every file in it (the database, its WAL and
/// shared-memory files, the admin token) 0600, whatever the umask. Modes are set explicitly rather than left
/// to the umask, and tightened when an existing file or directory is looser. A path the service cannot use is a
/// <see cref="ServiceStartException"/> naming it.
/// </summary>
internal static class DataFiles
{
    public const UnixFileMode DirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    public const UnixFileMode FileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private const UnixFileMode GroupOrOther =
        UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute |
        UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    /// <summary>Creates the data directory (0700), or tightens an existing one; throws when it cannot be used.</summary>
    public static void EnsureDirectory(string directory)
    {
        try
        {
            if (File.Exists(directory))
            {
                throw new ServiceStartException($"The data directory {directory} cannot be used: it is a file, not a directory.");
            }

            if (OperatingSystem.IsWindows())
            {
                Directory.CreateDirectory(directory);
                return;
            }

            if (!Directory.Exists(directory))
            {
                Directory.CreateDirectory(directory, DirectoryMode);
                File.SetUnixFileMode(directory, DirectoryMode); // the umask filters the mode given at creation
            }
            else
            {
                Tighten(directory, DirectoryMode);
            }
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            throw new ServiceStartException($"The data directory {directory} cannot be used: {ServiceStartException.Reason(exception)}.", exception);
        }
    }

    /// <summary>Sets an existing file to 0600 when group or others may read it; throws when that is not allowed.</summary>
    public static void Secure(string file)
    {
        if (OperatingSystem.IsWindows() || !File.Exists(file))
        {
            return;
        }

        try
        {
            Tighten(file, FileMode);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            throw new ServiceStartException($"The file {file} is readable by others and cannot be made private: {ServiceStartException.Reason(exception)}.", exception);
        }
    }

    /// <summary>Whether group or others have any access to an existing path.</summary>
    public static bool IsShared(string path) =>
        !OperatingSystem.IsWindows() && (File.GetUnixFileMode(path) & GroupOrOther) != 0;

    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private static void Tighten(string path, UnixFileMode mode)
    {
        if (IsShared(path))
        {
            File.SetUnixFileMode(path, mode);
        }
    }
}
