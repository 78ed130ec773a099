using System.Globalization;
using Keybrake.Protocol;

namespace Keybrake.Cli.Policies;

/// <summary>How a key leases its budget, and what its run cap counts, in the words <c>keys show</c> prints.</summary>
internal static class LeaseText
{
    /// <summary>Whether and how the key's processes lease slices of its budget (central mode), with the defaults spelled out.</summary>
    public static string Describe(Policy policy)
    {
        var lease = policy.Lease ?? new LeasePolicy();
        if (lease is { HasEnabled: true, Enabled: false })
        {
            return "off (every money call asks the service)";
        }

        var mode = lease.HasEnabled ? "on" : "automatic (once a process's calls on the key come fast enough)";
        return $"{mode}, slices of at most {MaxSlice(policy, lease)} lasting {Ttl(lease)}";
    }

    /// <summary>What the run cap counts besides the key's own calls.</summary>
    public static string RunCapIncludes(Policy policy) =>
        policy.RunCapIncludes.Any(word => string.Equals(word, LeaseSettings.LlmVendor, StringComparison.OrdinalIgnoreCase))
            ? "the key's calls and the run's LLM spend"
            : "the key's calls only";

    private static string MaxSlice(Policy policy, LeasePolicy lease)
    {
        if (lease.HasMaxSliceMicroUsd)
        {
            return Usd.FromMicros(lease.MaxSliceMicroUsd).ToString();
        }

        var share = string.Create(CultureInfo.InvariantCulture, $"{LeaseSettings.DefaultMaxSliceBasisPoints / 100.0:0.##}% of the daily cap");
        return policy.HasDailyCapMicroUsd
            ? $"{Usd.FromMicros(Math.Max(1, policy.DailyCapMicroUsd / 10_000 * LeaseSettings.DefaultMaxSliceBasisPoints))} ({share})"
            : share;
    }

    private static string Ttl(LeasePolicy lease)
    {
        var ttl = lease.HasTtlMilliseconds ? TimeSpan.FromMilliseconds(lease.TtlMilliseconds) : LeaseSettings.DefaultTtl;
        return string.Create(CultureInfo.InvariantCulture, $"{ttl.TotalSeconds:0.###} s");
    }

    /// <summary>What the key's active leases hold against its caps now, and how much of it is stranded.</summary>
    public static string Outstanding(KeyInfo key) =>
        key.LeasedMicroUsd == 0 ? "nothing"
        : key.StrandedMicroUsd == 0 ? $"{Usd.FromMicros(key.LeasedMicroUsd)} held by processes' leases"
        : $"{Usd.FromMicros(key.LeasedMicroUsd)} held by processes' leases, {Usd.FromMicros(key.StrandedMicroUsd)} of it stranded (its process is gone; back when the lease's TTL ends)";
}
