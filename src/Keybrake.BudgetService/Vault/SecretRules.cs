using Keybrake.BudgetService.Budget;
using Keybrake.BudgetService.Hosting;

namespace Keybrake.BudgetService.Vault;

/// <summary>
/// What the admin API accepts as a vendor secret and an overlap window. Every refusal is one line that never holds
/// the secret, nor any part of it: an operator who pasted the wrong thing learns what it looked like, not what it was.
/// </summary>
internal static class SecretRules
{
    public const int MaxLength = 4096;
    public const long MaxOverlapSeconds = 7 * 24 * 60 * 60;

    public static void Check(string secret, AdminToken adminToken)
    {
        var problem = secret.Length == 0 ? "secret is required"
            : secret.Length > MaxLength ? $"secret is longer than {MaxLength} characters"
            : secret.Any(c => c is < '!' or > '~') ? "secret must be printable ASCII, without spaces, line breaks or control characters"
            : secret.StartsWith("vault_key_", StringComparison.Ordinal) ? "secret is a brake key (vault_key_...), not the vendor's secret"
            : secret.StartsWith("kbc_", StringComparison.Ordinal) ? "secret is a Keybrake client credential (kbc_...), not the vendor's secret"
            : secret.StartsWith("kbadm_", StringComparison.Ordinal) || adminToken.Accepts("Bearer " + secret) ? "secret is the budget service's admin token, not the vendor's secret"
            : null;
        if (problem is not null)
        {
            throw RequestChecks.Invalid(problem);
        }
    }

    public static void CheckOverlap(long seconds, bool rotation)
    {
        if (!rotation && seconds != 0)
        {
            throw RequestChecks.Invalid("overlap_seconds applies to a rotation only; a first secret has nothing to overlap");
        }

        if (seconds is < 0 or > MaxOverlapSeconds)
        {
            throw RequestChecks.Invalid($"overlap_seconds must be between 0 and {MaxOverlapSeconds} (7 days)");
        }
    }
}
