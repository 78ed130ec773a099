namespace Keybrake.Client.Central;

/// <summary>
/// Whether this process makes more than <see cref="Threshold"/> money calls a second on a key: the moment an
/// automatic lease pays for itself, since below it a round trip per call costs little. A sliding count: the times of
/// the last <see cref="Threshold"/> + 1 calls, the oldest of which must be less than a second old.
/// </summary>
internal sealed class CallRate(TimeProvider clock)
{
    /// <summary>Money calls per second on one key above which an automatic key is leased.</summary>
    public const int Threshold = 20;

    private readonly long[] _times = new long[Threshold + 1];
    private int _next;
    private int _count;

    /// <summary>Counts a call; <see langword="true"/> when it makes more than <see cref="Threshold"/> within the last second.</summary>
    public bool Record()
    {
        var now = clock.GetTimestamp();
        lock (_times)
        {
            _times[_next] = now;
            _next = (_next + 1) % _times.Length;
            _count = Math.Min(_count + 1, _times.Length);

            // After the write, _next points at the oldest of the last Threshold + 1 calls.
            return _count == _times.Length && clock.GetElapsedTime(_times[_next], now) < TimeSpan.FromSeconds(1);
        }
    }
}
