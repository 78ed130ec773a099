namespace Keybrake.Client;

/// <summary>
/// Counts identical requests (by fingerprint) within a window for the loop breaker; not thread-safe, the
/// caller locks. A request that reuses an idempotency key already counted is a retry, not a repeat.
/// </summary>
internal sealed class RepeatTracker
{
    private const int SweepThreshold = 1024;

    private readonly Dictionary<UInt128, List<(long Stamp, string? IdempotencyKey)>> _seen = [];

    /// <summary>Records the request; returns <see langword="false"/> when it is one repeat too many.</summary>
    public bool TryRecord(UInt128 fingerprint, string? idempotencyKey, long now, int maxRepeats, TimeSpan window, TimeProvider time)
    {
        if (_seen.Count >= SweepThreshold)
        {
            Sweep(now, window, time);
        }

        if (!_seen.TryGetValue(fingerprint, out var stamps))
        {
            stamps = [];
            _seen.Add(fingerprint, stamps);
        }

        stamps.RemoveAll(entry => time.GetElapsedTime(entry.Stamp, now) >= window);
        if (idempotencyKey is not null && stamps.Exists(entry => entry.IdempotencyKey == idempotencyKey))
        {
            return true;
        }

        // Denied repeats are counted too, so a loop that keeps hammering stays stopped until it pauses;
        // past the limit the oldest entry makes room, which keeps the list bounded.
        if (stamps.Count > maxRepeats)
        {
            stamps.RemoveAt(0);
        }

        stamps.Add((now, idempotencyKey));
        return stamps.Count <= maxRepeats;
    }

    private void Sweep(long now, TimeSpan window, TimeProvider time)
    {
        foreach (var (fingerprint, stamps) in _seen.ToList())
        {
            stamps.RemoveAll(entry => time.GetElapsedTime(entry.Stamp, now) >= window);
            if (stamps.Count == 0)
            {
                _seen.Remove(fingerprint);
            }
        }
    }
}
