using System.Data.Common;

namespace Keybrake.BudgetService.Alerts;

/// <summary>The alert columns both engines read the same way.</summary>
internal static class AlertRows
{
    public const string AlertColumns = "alert_id, dedupe_key, type, key_id, scope, alert_window, threshold_percent, message, payload, created_at";

    /// <summary>The alert columns (ordinals 0 to 9), then the delivery's (10 to 15): webhook, state, attempts, last_error, next_attempt_at, delivered_at.</summary>
    public const string ListSelect = """
        SELECT a.alert_id, a.dedupe_key, a.type, a.key_id, a.scope, a.alert_window, a.threshold_percent, a.message, a.payload, a.created_at,
               d.webhook, d.state, d.attempts, d.last_error, d.next_attempt_at, d.delivered_at
        FROM alert a LEFT JOIN alert_delivery d ON d.alert_id = a.alert_id
        """;

    public static StoredAlert Alert(DbDataReader reader) => new(
        reader.GetString(0),
        reader.GetString(1),
        reader.GetString(2),
        reader.GetString(3),
        reader.IsDBNull(4) ? null : reader.GetString(4),
        reader.IsDBNull(5) ? null : reader.GetString(5),
        reader.IsDBNull(6) ? null : (int)reader.GetInt64(6),
        reader.GetString(7),
        reader.GetString(8),
        DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(9)));

    /// <summary>Adds one joined row of <see cref="ListSelect"/> (ordered by alert) to the alerts listed so far.</summary>
    public static void AddListed(List<ListedAlert> alerts, DbDataReader reader)
    {
        var alertId = reader.GetString(0);
        if (alerts.Count == 0 || alerts[^1].Alert.AlertId != alertId)
        {
            alerts.Add(new ListedAlert(Alert(reader), new List<ListedDelivery>()));
        }

        if (!reader.IsDBNull(10))
        {
            ((List<ListedDelivery>)alerts[^1].Deliveries).Add(new ListedDelivery(
                reader.GetString(10),
                (DeliveryState)Convert.ToInt32(reader.GetValue(11), System.Globalization.CultureInfo.InvariantCulture),
                (int)reader.GetInt64(12),
                reader.IsDBNull(13) ? null : reader.GetString(13),
                reader.IsDBNull(14) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(14)),
                reader.IsDBNull(15) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(15))));
        }
    }

    /// <summary>
    /// Deletes the deliveries, then the alerts, of old alerts with nothing left to send (<paramref name="before"/>: the
    /// cutoff's parameter); the second statement's count is the alerts forgotten.
    /// </summary>
    public static string[] PruneStatements(string before) =>
    [
        $"""
        DELETE FROM alert_delivery WHERE alert_id IN (
            SELECT a.alert_id FROM alert a WHERE a.created_at < {before}
            AND NOT EXISTS (SELECT 1 FROM alert_delivery p WHERE p.alert_id = a.alert_id AND p.state = 0))
        """,
        $"""
        DELETE FROM alert WHERE created_at < {before}
            AND NOT EXISTS (SELECT 1 FROM alert_delivery p WHERE p.alert_id = alert.alert_id)
        """,
    ];

    /// <summary>The filter and order of a listing: newest first, the undelivered only when asked.</summary>
    public static string ListWhere(bool undeliveredOnly, string limitParameter) =>
        "\n" + $"""
        WHERE a.alert_id IN (
            SELECT x.alert_id FROM alert x
            {(undeliveredOnly ? "WHERE EXISTS (SELECT 1 FROM alert_delivery u WHERE u.alert_id = x.alert_id AND u.state <> 1)" : string.Empty)}
            ORDER BY x.created_at DESC, x.alert_id DESC LIMIT {limitParameter})
        ORDER BY a.created_at DESC, a.alert_id DESC, d.webhook
        """;
}
