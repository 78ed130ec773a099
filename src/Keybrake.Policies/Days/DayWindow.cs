namespace Keybrake.Policies;

/// <summary>The calendar day a moment falls on in a key's time zone: the key of its daily counter.</summary>
internal static class DayWindow
{
    public static DateOnly DayOf(DateTimeOffset utcNow, TimeZoneInfo zone) =>
        DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(utcNow, zone).DateTime);
}
