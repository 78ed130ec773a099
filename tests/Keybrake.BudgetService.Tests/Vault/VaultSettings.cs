using System.Security.Cryptography;
using System.Text;
using Keybrake.Client.TestUtilities.BudgetService;

namespace Keybrake.BudgetService.Tests.Vault;

/// <summary>Master keys and vendor secrets for the vault's tests: each secret random, so finding it anywhere is no coincidence.</summary>
internal static class VaultSettings
{
    /// <summary>Two different master keys, as base64 of 32 bytes.</summary>
    public static readonly string MasterKeyA = Convert.ToBase64String(SHA256.HashData("vault test master key A"u8));

    public static readonly string MasterKeyB = Convert.ToBase64String(SHA256.HashData("vault test master key B"u8));

    /// <summary>The service's settings for keys <paramref name="keyIds"/> (Stripe, $100 a day) and the master key given inline.</summary>
    public static Dictionary<string, string?> With(string? masterKey, params string[] keyIds)
    {
        var settings = TestService.Settings([.. keyIds.Select(id => (IDictionary<string, string?>)BudgetServiceHost.Key(id, "100"))]);
        if (masterKey is not null)
        {
            settings["BudgetService:Vault:MasterKey"] = masterKey;
        }

        return settings;
    }

    /// <summary>A Stripe-shaped secret key nobody else has.</summary>
    public static string NewSecret() => "sk_test_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(20));

    /// <summary>Whether any file under <paramref name="folder"/> holds <paramref name="secret"/> (as UTF-8 or UTF-16 text); names the file.</summary>
    public static string? FileHolding(string folder, string secret)
    {
        var patterns = new[] { Encoding.UTF8.GetBytes(secret), Encoding.Unicode.GetBytes(secret) };
        foreach (var file in Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories))
        {
            byte[] bytes;
            try
            {
                bytes = File.ReadAllBytes(file);
            }
            catch (IOException)
            {
                continue; // a socket or a file the server holds open exclusively: nothing of the store's data
            }

            if (patterns.Any(pattern => bytes.AsSpan().IndexOf(pattern) >= 0))
            {
                return file;
            }
        }

        return null;
    }
}
