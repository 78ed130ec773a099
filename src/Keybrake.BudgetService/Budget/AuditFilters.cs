using System.Globalization;
using System.Text;
using Google.Protobuf;
using Keybrake.BudgetService.Store;
using Keybrake.Protocol;

namespace Keybrake.BudgetService.Budget;

/// <summary>Audit query filters and page tokens, from the request's strings; bad input names the field.</summary>
internal static class AuditFilters
{
    private static readonly JsonParser s_parser = new(JsonParser.Settings.Default.WithIgnoreUnknownFields(true));

    public static AuditFilter From(string runId, string keyId, string vendor, string decision, string from, string to)
    {
        RequestChecks.Id(runId, "run_id", required: false);
        RequestChecks.Id(keyId, "key_id", required: false);
        RequestChecks.Id(vendor, "vendor", required: false);
        // Records say "allow" or "deny"; "allowed" and "denied" read naturally on a command line, so both work.
        var normalized = decision.ToLowerInvariant() switch
        {
            "" => string.Empty,
            "allow" or "allowed" => "allow",
            "deny" or "denied" => "deny",
            _ => throw RequestChecks.Invalid($"decision must be \"allow\" or \"deny\", not \"{decision}\""),
        };

        return new AuditFilter(
            Null(runId),
            Null(keyId),
            Null(vendor.ToLowerInvariant()),
            Null(normalized),
            from.Length == 0 ? null : Moment(from, "from"),
            to.Length == 0 ? null : Moment(to, "to"),
            After: null);
    }

    public static DateTimeOffset Moment(string text, string field) =>
        DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var moment)
            ? moment
            : throw RequestChecks.Invalid($"{field} must be an RFC 3339 time such as 2026-12-01T09:00:00Z, not '{RequestChecks.Shown(text)}'");

    /// <summary>The position after a page's last record, opaque to callers.</summary>
    public static string PageToken(StoredAuditRow last) =>
        Convert.ToBase64String(Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{last.TimestampMillis}|{last.RecordId}")));

    public static AuditPosition? ParsePageToken(string token)
    {
        if (token.Length == 0)
        {
            return null;
        }

        try
        {
            var text = Encoding.UTF8.GetString(Convert.FromBase64String(token));
            var bar = text.IndexOf('|', StringComparison.Ordinal);
            if (bar > 0 && long.TryParse(text.AsSpan(0, bar), NumberStyles.Integer, CultureInfo.InvariantCulture, out var timestamp))
            {
                return new AuditPosition(timestamp, text[(bar + 1)..]);
            }
        }
        catch (FormatException)
        {
            // reported below
        }

        throw RequestChecks.Invalid("page_token is not one this service issued");
    }

    /// <summary>The stored JSON back as the message it was received as.</summary>
    public static AuditRecord Parse(StoredAuditRow row) => s_parser.Parse<AuditRecord>(row.Json);

    private static string? Null(string value) => value.Length == 0 ? null : value;
}
