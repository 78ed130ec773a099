using System.Security.Cryptography;
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
}
