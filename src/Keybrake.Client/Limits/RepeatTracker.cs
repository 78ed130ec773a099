namespace Keybrake.Client;

/// <summary>
/// Counts identical requests (by fingerprint) within a window for the loop breaker; not thread-safe, the
/// caller locks. A request that reuses an idempotency key already counted is a retry, not a repeat.
/// Fingerprints whose window has passed are swept out once the table has grown to twice what was live after
/// the last sweep (and at least <see cref="SweepThreshold"/>): the table stays within about twice the
/// fingerprints live in one window, and a busy key with more than the threshold live no longer pays for a
/// sweep of the whole table on every call, only on every doubling (amortised constant time).
/// </summary>
internal sealed class RepeatTracker
{
    internal const int SweepThreshold = 1024;

    private readonly Dictionary<UInt128, List<(long Stamp, string? IdempotencyKey)>> _seen = [];
    private int _nextSweep = SweepThreshold;

    /// <summary>Fingerprints held (tests check the table stays bounded).</summary>
    internal int Count => _seen.Count;

    /// <summary>Sweeps of the whole table so far (tests check they are amortised).</summary>
    internal long Sweeps { get; private set; }

    /// <summary>Records the request; returns <see langword="false"/> when it is one repeat too many.</summary>
    public bool TryRecord(UInt128 fingerprint, string? idempotencyKey, long now, int maxRepeats, TimeSpan window, TimeProvider time)
    {
        if (_seen.Count >= _nextSweep)
        {
            Sweep(now, window, time);
            Sweeps++;
            _nextSweep = Math.Max(SweepThreshold, _seen.Count * 2);
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

    /// <summary>Drops the fingerprints whose window has passed, in place (a dictionary may lose entries while it is enumerated).</summary>
    private void Sweep(long now, TimeSpan window, TimeProvider time)
    {
        foreach (var (fingerprint, stamps) in _seen)
        {
            stamps.RemoveAll(entry => time.GetElapsedTime(entry.Stamp, now) >= window);
            if (stamps.Count == 0)
            {
                _seen.Remove(fingerprint);
            }
        }
    }
}
