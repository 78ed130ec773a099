using Keybrake.BudgetService.Alerts;

namespace Keybrake.BudgetService.Tests.Stores;

/// <summary>Alerts as the store contract tests fire them.</summary>
internal static class AlertStoreCalls
{
    public static StoredAlert Alert(string alertId, string dedupeKey, DateTimeOffset at)
    {
        var threshold = dedupeKey.Split('|') is [.., var last] && int.TryParse(last, out var percent) ? percent : (int?)null;
        return new StoredAlert(alertId, dedupeKey, AlertTypes.Threshold, "agent", "daily", "2026-03-10", threshold, "80% of the daily cap", "{\"id\":\"x\"}", at);
    }
}
