namespace Keybrake.Policies;

/// <summary>The calendar day a moment falls on in a key's time zone: the key of its daily counter.</summary>
public static class DayWindow
{
    /// <summary>The day <paramref name="utcNow"/> falls on in <paramref name="zone"/>.</summary>
    /// <param name="utcNow">The moment.</param>
    /// <param name="zone">The key's time zone.</param>
    public static DateOnly DayOf(DateTimeOffset utcNow, TimeZoneInfo zone) =>
        DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(utcNow, zone).DateTime);

    /// <summary>The first moment of the day after <paramref name="day"/> in <paramref name="zone"/>, in UTC: where the day's counter stops counting.</summary>
    /// <param name="day">The day.</param>
    /// <param name="zone">The key's time zone.</param>
    public static DateTimeOffset EndOf(DateOnly day, TimeZoneInfo zone)
    {
        ArgumentNullException.ThrowIfNull(zone);
        var midnight = day.AddDays(1).ToDateTime(TimeOnly.MinValue, DateTimeKind.Unspecified);
        while (zone.IsInvalidTime(midnight))
        {
            midnight = midnight.AddMinutes(30); // a zone whose clocks skip midnight: the day starts when they land
        }

        return new DateTimeOffset(TimeZoneInfo.ConvertTimeToUtc(midnight, zone), TimeSpan.Zero);
    }
}
