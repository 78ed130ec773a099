namespace Keybrake.Protocol;

/// <summary>
/// The wire's instants: microseconds since the Unix epoch (UTC), the unit of every <c>*_unix_micros</c> field. One
/// conversion each way, so that the client and the service cannot round differently.
/// </summary>
public static class UnixMicros
{
    /// <summary>Microseconds since the Unix epoch; anything finer than a microsecond is dropped.</summary>
    /// <param name="instant">The instant.</param>
    /// <returns>The wire value.</returns>
    public static long From(DateTimeOffset instant) => (instant - DateTimeOffset.UnixEpoch).Ticks / TimeSpan.TicksPerMicrosecond;

    /// <summary>The instant (UTC) a wire value names; the caller checks it is in range first.</summary>
    /// <param name="unixMicros">Microseconds since the Unix epoch.</param>
    /// <returns>The instant, with a zero offset.</returns>
    public static DateTimeOffset ToInstant(long unixMicros) => DateTimeOffset.UnixEpoch.AddTicks(unixMicros * TimeSpan.TicksPerMicrosecond);
}
