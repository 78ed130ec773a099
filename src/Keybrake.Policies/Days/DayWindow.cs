namespace Keybrake.Policies;

/// <summary>The calendar day a moment falls on in a key's time zone: the key of its daily counter.</summary>
public static class DayWindow
{
    /// <summary>The day <paramref name="utcNow"/> falls on in <paramref name="zone"/>.</summary>
    /// <param name="utcNow">The moment.</param>
    /// <param name="zone">The key's time zone.</param>
    public static DateOnly DayOf(DateTimeOffset utcNow, TimeZoneInfo zone) =>
        DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(utcNow, zone).DateTime);
}
