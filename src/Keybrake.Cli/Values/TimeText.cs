using System.Globalization;

namespace Keybrake.Cli.Values;

/// <summary>Points in time as options take them (RFC 3339, a date, or a span ago) and as tables show them.</summary>
internal static class TimeText
{
    /// <summary>
    /// Parses <c>2025-06-01T12:00:00Z</c> (RFC 3339), <c>2025-06-01</c> (midnight UTC) or a span ago such as
    /// <c>90s</c>, <c>15m</c>, <c>2h</c> or <c>7d</c>, into RFC 3339 UTC as the service takes it.
    /// </summary>
    public static bool TryParse(string text, DateTimeOffset now, out string rfc3339, out string error)
    {
        rfc3339 = string.Empty;
        error = string.Empty;
        var trimmed = text.Trim();
        DateTimeOffset at;
        if (TryParseAgo(trimmed, out var ago))
        {
            at = now - ago;
        }
        else if (DateOnly.TryParseExact(trimmed, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var day))
        {
            at = new DateTimeOffset(day.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
        }
        else if (!(trimmed.Contains('T', StringComparison.OrdinalIgnoreCase)
                   && DateTimeOffset.TryParse(trimmed, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out at)))
        {
            error = $"'{text}' is not a time: write 2025-06-01T12:00:00Z, 2025-06-01 (midnight UTC) or a span ago such as 15m, 2h or 7d";
            return false;
        }

        rfc3339 = Format(at);
        return true;
    }

    /// <summary>RFC 3339 in UTC with the fraction only when there is one.</summary>
    public static string Format(DateTimeOffset at) =>
        at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", CultureInfo.InvariantCulture);

    /// <summary>A table cell: UTC to the second.</summary>
    public static string Cell(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);

    /// <summary>A table cell from RFC 3339 text; shown as it came when it does not parse.</summary>
    public static string Cell(string rfc3339) =>
        DateTimeOffset.TryParse(rfc3339, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at) ? Cell(at) : rfc3339;

    public static string CellFromUnixMicros(long micros) => Cell(DateTimeOffset.UnixEpoch.AddTicks(micros * 10));

    /// <summary>Parses a span such as <c>90s</c>, <c>15m</c>, <c>2h</c> or <c>7d</c> (<c>0s</c> included).</summary>
    public static bool TryParseSpan(string text, out TimeSpan span) => TryParseAgo(text.Trim(), out span);

    private static bool TryParseAgo(string text, out TimeSpan ago)
    {
        ago = default;
        if (text.Length < 2 || !long.TryParse(text.AsSpan(0, text.Length - 1), NumberStyles.None, CultureInfo.InvariantCulture, out var count) || count > 100_000)
        {
            return false;
        }

        ago = char.ToLowerInvariant(text[^1]) switch
        {
            's' => TimeSpan.FromSeconds(count),
            'm' => TimeSpan.FromMinutes(count),
            'h' => TimeSpan.FromHours(count),
            'd' => TimeSpan.FromDays(count),
            _ => TimeSpan.MinValue,
        };
        return ago != TimeSpan.MinValue;
    }
}
