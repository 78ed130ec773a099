using Microsoft.Extensions.Time.Testing;

namespace Keybrake.Client.Tests;

/// <summary>A <see cref="CallLimiter"/> on a fake clock, checking calls for one key with the test's policy.</summary>
internal sealed class LimiterHarness
{
    private readonly ResolvedKey _key;

    public LimiterHarness(Action<KeybrakePolicyOptions> policy)
    {
        var options = new KeybrakePolicyOptions { DailyCap = Usd.FromDollars(100) };
        policy(options);
        _key = new ResolvedKey("agent", TestVendorProfile.Name, "tv_secret", KeyPolicy.Compile("agent", options));
        Limiter = new CallLimiter(Time);
    }

    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 3, 10, 12, 0, 0, TimeSpan.Zero));

    public CallLimiter Limiter { get; }

    /// <summary>Checks one call; <paramref name="fingerprint"/> is null for a read.</summary>
    public string? Check(ulong? fingerprint = 1, string? idempotencyKey = null) =>
        Limiter.Check(_key, fingerprint is { } value ? new UInt128(0, value) : null, idempotencyKey)?.Reason;

    /// <summary>Checks <paramref name="count"/> calls and returns each one's denial reason, or null when allowed.</summary>
    public string?[] CheckMany(int count, ulong? fingerprint = 1) =>
        [.. Enumerable.Range(0, count).Select(_ => Check(fingerprint))];
}
