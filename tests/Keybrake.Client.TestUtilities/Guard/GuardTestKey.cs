namespace Keybrake.Client.TestUtilities.Guard;

/// <summary>
/// A key a <see cref="GuardTestHost"/> registers: its ids and vendor secret, and what a test changes. A key without
/// <see cref="DailyCap"/> takes its cap from the policy (in central mode, the service's).
/// </summary>
public sealed record GuardTestKey(string KeyId, string BrakeKey, string Vendor, string VendorSecret)
{
    /// <summary>Where the vendor secret may go instead of the vendor's own hosts (a stand-in's address).</summary>
    public string? VendorEndpoint { get; init; }

    /// <summary>The key's daily cap, set before <see cref="Policy"/> runs.</summary>
    public Usd? DailyCap { get; init; }

    /// <summary>Turns the loop breaker off (before <see cref="Policy"/> runs): tests that repeat amounts on purpose.</summary>
    public bool LoopBreakerOff { get; init; }

    /// <summary>The test's changes to the policy.</summary>
    public Action<KeybrakePolicyOptions>? Policy { get; init; }

    /// <summary>The test's changes to the rest of the key.</summary>
    public Action<KeybrakeKeyOptions>? Key { get; init; }

    internal void Apply(KeybrakeKeyOptions key)
    {
        key.BrakeKey = BrakeKey;
        key.Vendor = Vendor;
        key.VendorSecret = VendorSecret;
        if (VendorEndpoint is not null)
        {
            key.VendorEndpoint = VendorEndpoint;
        }

        if (DailyCap is { } cap)
        {
            key.Policy.DailyCap = cap;
        }

        if (LoopBreakerOff)
        {
            key.Policy.LoopBreaker.MaxRepeats = 0;
        }

        Policy?.Invoke(key.Policy);
        Key?.Invoke(key);
    }
}
