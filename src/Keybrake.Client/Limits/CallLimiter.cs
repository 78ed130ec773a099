using System.Collections.Concurrent;

namespace Keybrake.Client;

/// <summary>
/// The local per-key limits: requests per sliding minute, and the loop breaker for identical requests.
/// They hold per process, by design: they catch a runaway loop before it reaches the network.
/// </summary>
internal sealed class CallLimiter
{
    private static readonly TimeSpan s_velocityWindow = TimeSpan.FromMinutes(1);

    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, KeyLimits> _keys = new(StringComparer.Ordinal);

    public CallLimiter(TimeProvider time) => _time = time;

    /// <summary>
    /// Counts the call against the key's limits and returns a denial when one is exceeded.
    /// </summary>
    /// <param name="key">The key and its policy.</param>
    /// <param name="fingerprint">The request's hash, for calls the loop breaker watches; <see langword="null"/> for reads.</param>
    /// <param name="idempotencyKey">The call's idempotency key: a retry reusing it is not a repeat.</param>
    public GuardDenial? Check(ResolvedKey key, UInt128? fingerprint, string? idempotencyKey)
    {
        var policy = key.Policy;
        var watchLoops = fingerprint is not null && policy.LoopMaxRepeats > 0;
        if (policy.RequestsPerMinute is null && !watchLoops)
        {
            return null;
        }

        var limits = _keys.GetOrAdd(key.Id, static _ => new KeyLimits());
        var now = _time.GetTimestamp();
        lock (limits)
        {
            if (policy.RequestsPerMinute is { } perMinute && !limits.Velocity.TryTake(now, perMinute, s_velocityWindow, _time))
            {
                return RateLimited(key, perMinute);
            }

            if (watchLoops && !limits.Loops.TryRecord(fingerprint!.Value, idempotencyKey, now, policy.LoopMaxRepeats, policy.LoopWindow, _time))
            {
                return new GuardDenial(
                    ReasonCodes.LoopDetected,
                    $"the same request was sent more than {policy.LoopMaxRepeats} times within {policy.LoopWindow.TotalSeconds:0} s with key '{key.Id}'; the loop breaker stopped it");
            }
        }

        return null;
    }

    /// <summary>
    /// The rate-limit denial the key's next call would get, without counting anything: a call that is certain to
    /// be denied need not go through the vendor's checks, which may look an object up at the vendor.
    /// </summary>
    public GuardDenial? PeekRateLimit(ResolvedKey key)
    {
        if (key.Policy.RequestsPerMinute is not { } perMinute || !_keys.TryGetValue(key.Id, out var limits))
        {
            return null;
        }

        lock (limits)
        {
            return limits.Velocity.IsFull(_time.GetTimestamp(), perMinute, s_velocityWindow, _time) ? RateLimited(key, perMinute) : null;
        }
    }

    private static GuardDenial RateLimited(ResolvedKey key, int perMinute) =>
        new(ReasonCodes.RateLimited, $"key '{key.Id}' may make {perMinute} calls a minute and has made them");

    private sealed class KeyLimits
    {
        public SlidingWindowCounter Velocity { get; } = new();

        public RepeatTracker Loops { get; } = new();
    }
}
