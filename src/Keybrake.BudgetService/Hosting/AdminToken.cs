using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace Keybrake.BudgetService.Hosting;

/// <summary>
/// The bearer token the admin API requires. Configured (<c>BudgetService:AdminToken</c>), or else generated on
/// first start into <c>admin-token</c> next to the store, readable by the service's user only, so that the
/// service never runs with an open admin API. Compared in constant time; never logged.
/// </summary>
internal sealed class AdminToken
{
    private readonly byte[] _hash;

    public AdminToken(IOptions<BudgetServiceOptions> options, ILogger<AdminToken> logger)
    {
        var token = options.Value.AdminToken;
        if (string.IsNullOrEmpty(token))
        {
            var path = FilePath(options.Value);
            token = ReadOrCreate(path, out var created);
            if (created)
            {
                Log.AdminTokenGenerated(logger, path);
            }
            else
            {
                Log.AdminTokenRead(logger, path);
            }
        }

        _hash = SHA256.HashData(Encoding.UTF8.GetBytes(token));
    }

    /// <summary>Where the generated token is kept: next to the store.</summary>
    public static string FilePath(BudgetServiceOptions options) =>
        Path.Combine(Path.GetDirectoryName(Path.GetFullPath(options.StoragePath)) ?? ".", "admin-token");

    /// <summary>Whether an <c>Authorization</c> header value carries the token. Hashes first, so neither content nor length leaks through timing.</summary>
    public bool Accepts(string? authorizationHeader)
    {
        const string Scheme = "Bearer ";
        if (authorizationHeader is null || !authorizationHeader.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        var presented = SHA256.HashData(Encoding.UTF8.GetBytes(authorizationHeader[Scheme.Length..].Trim()));
        return CryptographicOperations.FixedTimeEquals(presented, _hash);
    }

    private static string ReadOrCreate(string path, out bool created)
    {
        created = false;
        if (File.Exists(path))
        {
            var existing = File.ReadAllText(path).Trim();
            if (existing.Length >= 16)
            {
                return existing;
            }
        }

        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var token = "kbadm_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24));
        var fileOptions = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            fileOptions.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using (var stream = new FileStream(path, fileOptions))
        using (var writer = new StreamWriter(stream))
        {
            writer.WriteLine(token);
        }

        created = true;
        return token;
    }
}
