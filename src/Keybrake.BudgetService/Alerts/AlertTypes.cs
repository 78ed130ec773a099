namespace Keybrake.BudgetService.Alerts;

/// <summary>The kinds of alert, as their payload's <c>type</c> names them and a webhook's <c>Events</c> filter lists them.</summary>
internal static class AlertTypes
{
    /// <summary>A key's day, or a run, reached a threshold of its cap.</summary>
    public const string Threshold = "budget.threshold";

    public const string KeyRevoked = "key.revoked";

    public const string KeyRestored = "key.restored";

    /// <summary>Many denials of one reason (a loop, a rate limit) for one key within a window.</summary>
    public const string DenialBurst = "denials.burst";

    /// <summary>Sent by <c>TestFireAlert</c>: never stored, always sent.</summary>
    public const string Test = "alert.test";

    public static readonly IReadOnlySet<string> Filterable = new HashSet<string>(StringComparer.Ordinal) { Threshold, KeyRevoked, KeyRestored, DenialBurst };
}
