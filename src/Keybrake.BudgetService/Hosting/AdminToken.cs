using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace Keybrake.BudgetService.Hosting;

/// <summary>
/// The bearer token the admin API requires: configured (<c>BudgetService:AdminToken</c>), or read from the token file
/// (<see cref="FilePath"/>). On SQLite a missing file is generated on first start, mode 0600, so that the service never
/// runs with an open admin API. On PostgreSQL, where replicas on several machines must all accept one token, nothing is
/// generated: the token or an existing file must be configured, or the service does not start. An existing token file
/// that others may read is made private again (and the change logged); a file the service cannot make private, or
/// whose token is not printable ASCII, stops the start. Compared in constant time; never logged.
/// </summary>
internal sealed class AdminToken
{
    public const int MinLength = 16;

    private readonly byte[] _hash;

    public AdminToken(IOptions<BudgetServiceOptions> options, ILogger<AdminToken> logger)
    {
        var token = options.Value.AdminToken;
        if (string.IsNullOrEmpty(token))
        {
            token = ReadOrCreate(options.Value, logger);
        }

        _hash = SHA256.HashData(Encoding.UTF8.GetBytes(token));
    }

    /// <summary>
    /// Where the token file is: <see cref="BudgetServiceOptions.AdminTokenFile"/>, or on SQLite <c>admin-token</c> next to
    /// the database; <see langword="null"/> on PostgreSQL without a configured file (no machine's disk is the store's).
    /// </summary>
    public static string? FilePath(BudgetServiceOptions options) =>
        !string.IsNullOrWhiteSpace(options.AdminTokenFile) ? Path.GetFullPath(options.AdminTokenFile)
        : options.OnPostgreSql ? null
        : Path.Combine(Path.GetDirectoryName(Path.GetFullPath(options.StoragePath)) ?? ".", "admin-token");

    /// <summary>
    /// What is wrong with a token, or <see langword="null"/>. Printable ASCII only: a control byte or a non-ASCII
    /// character would not survive a header or a shell the same way on every client.
    /// </summary>
    public static string? Problem(string token) =>
        token.Length < MinLength ? $"must be at least {MinLength} characters"
        : token.Any(c => c is < '!' or > '~') ? "must be printable ASCII, without spaces, control characters or non-ASCII characters"
        : null;

    /// <summary>Whether an <c>Authorization</c> header value carries the token. Hashes first, so neither content nor length leaks through timing.</summary>
    public bool Accepts(string? authorizationHeader)
    {
        const string Scheme = "Bearer ";
        if (authorizationHeader is null || !authorizationHeader.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        return AcceptsToken(authorizationHeader[Scheme.Length..]);
    }

    /// <summary>Whether <paramref name="presented"/> is the token (the console's sign-in form): the same fixed-time comparison of hashes.</summary>
    public bool AcceptsToken(string presented) =>
        CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(presented.Trim())), _hash);

    private static string ReadOrCreate(BudgetServiceOptions options, ILogger logger)
    {
        const string Section = BudgetServiceOptions.SectionName;
        if (FilePath(options) is not { } path)
        {
            throw new ServiceStartException(
                $"{Section}:AdminToken is not set: on PostgreSQL every replica must accept the same admin token, so none is generated; "
                + $"set {Section}:AdminToken (for example in the environment variable {Section}__AdminToken), or {Section}:AdminTokenFile to a file every replica reads");
        }

        if (options.OnPostgreSql && !File.Exists(path) && !Directory.Exists(path))
        {
            throw new ServiceStartException(
                $"The admin token file {path} does not exist: on PostgreSQL the service does not generate one (each replica would make its own); "
                + $"create it with one token of {MinLength}+ printable ASCII characters, the same for every replica, readable by the service's user only");
        }

        // The data directory is the service's own and made private; the folder of a configured file (a mounted secret)
        // is someone else's, and is created only when a token has to be generated into it.
        var configured = !string.IsNullOrWhiteSpace(options.AdminTokenFile);
        if (!configured || !File.Exists(path))
        {
            DataFiles.EnsureDirectory(Path.GetDirectoryName(path)!);
        }

        if (Directory.Exists(path))
        {
            throw new ServiceStartException($"The admin token file {path} cannot be used: it is a directory.");
        }

        if (File.Exists(path))
        {
            string existing;
            try
            {
                if (DataFiles.IsShared(path))
                {
                    DataFiles.Secure(path);
                    Log.AdminTokenResecured(logger, path);
                }

                existing = File.ReadAllText(path).Trim();
            }
            catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
            {
                throw new ServiceStartException($"The admin token file {path} cannot be read: {ServiceStartException.Reason(exception)}.", exception);
            }

            if (existing.Length > 0)
            {
                if (Problem(existing) is { } problem)
                {
                    throw new ServiceStartException($"The admin token in {path} {problem}; correct the file, or delete it to have a new token generated.");
                }

                Log.AdminTokenRead(logger, path);
                return existing;
            }
        }

        if (options.OnPostgreSql)
        {
            throw new ServiceStartException($"The admin token file {path} is empty: on PostgreSQL the service does not generate a token; write one of {MinLength}+ printable ASCII characters into it, the same for every replica");
        }

        var token = "kbadm_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24));
        Write(path, token);
        Log.AdminTokenGenerated(logger, path);
        return token;
    }

    /// <summary>Writes a new file, private from its first byte, and moves it over the old one (whose mode it does not inherit).</summary>
    private static void Write(string path, string token)
    {
        var temporary = path + ".new";
        try
        {
            File.Delete(temporary);
            var fileOptions = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows())
            {
                fileOptions.UnixCreateMode = DataFiles.FileMode;
            }

            using (var stream = new FileStream(temporary, fileOptions))
            using (var writer = new StreamWriter(stream))
            {
                writer.WriteLine(token);
            }

            // UnixCreateMode is filtered by the umask; a umask such as 0377 would leave the owner without write.
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(temporary, DataFiles.FileMode);
            }

            File.Move(temporary, path, overwrite: true);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            throw new ServiceStartException($"The admin token file {path} cannot be written: {ServiceStartException.Reason(exception)}.", exception);
        }
    }
}
