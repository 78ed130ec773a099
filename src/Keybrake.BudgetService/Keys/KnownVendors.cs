using System.Collections.Frozen;

namespace Keybrake.BudgetService.Keys;

/// <summary>
/// The vendors a key may be for, with the allowlist and limit names their guards understand, so that a policy
/// naming one they do not is refused when it is written rather than ignored by every client. Each entry must
/// match the vendor package's profile (a test checks).
/// </summary>
internal static class KnownVendors
{
    public static FrozenDictionary<string, (string[] ScopeNames, string[] LimitNames)> All { get; } =
        new Dictionary<string, (string[], string[])>(StringComparer.Ordinal)
        {
            ["stripe"] = (["customers", "accounts"], []),
            ["resend"] = (["recipientDomains"], ["maxRecipientsPerEmail", "maxRecipientsPerRequest"]),
        }.ToFrozenDictionary(StringComparer.Ordinal);

    public static string Names => string.Join(", ", All.Keys.Order(StringComparer.Ordinal));
}
