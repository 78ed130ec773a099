using System.Collections.Frozen;

namespace Keybrake.BudgetService.Keys;

/// <summary>
/// The vendors a key may be for, with the allowlist and limit names their guards understand, so that a policy
/// naming one they do not is refused when it is written rather than ignored by every client. The table itself
/// is <see cref="KnownVendor"/>, which the CLI reads too.
/// </summary>
internal static class KnownVendors
{
    public static FrozenDictionary<string, (string[] ScopeNames, string[] LimitNames)> All { get; } =
        KnownVendor.All.ToFrozenDictionary(v => v.Name, v => (v.ScopeNames.ToArray(), v.LimitNames.ToArray()), StringComparer.Ordinal);

    public static string Names => string.Join(", ", All.Keys.Order(StringComparer.Ordinal));
}
