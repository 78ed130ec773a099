namespace Keybrake.Policies;

/// <summary>A key's compiled budget-lease settings (see <see cref="LeaseOptions"/>).</summary>
public sealed class LeaseSettings
{
    private LeaseSettings()
    {
    }

    /// <summary>The vendor name LLM spend is counted under, and the word <c>RunCapIncludes</c> takes for it.</summary>
    public const string LlmVendor = "llm";

    /// <summary>A slice's lifetime when the policy sets none.</summary>
    public static readonly TimeSpan DefaultTtl = TimeSpan.FromSeconds(30);

    /// <summary>The largest slice, in parts per ten thousand of the daily cap, when the policy sets none (2%).</summary>
    public const int DefaultMaxSliceBasisPoints = 200;

    /// <summary>Automatic leasing with the defaults.</summary>
    public static LeaseSettings Automatic { get; } = new();

    /// <summary>Never lease.</summary>
    public static LeaseSettings Off { get; } = new() { Enabled = false };

    /// <summary><see langword="true"/> to lease, <see langword="false"/> never to, <see langword="null"/> for automatic.</summary>
    public bool? Enabled { get; private init; }

    /// <summary>The largest slice set by the policy; <see langword="null"/> for the default share of the daily cap (<see cref="MaxSliceFor"/>).</summary>
    public Usd? MaxSlice { get; private init; }

    /// <summary>How long a slice lasts unless topped up.</summary>
    public TimeSpan Ttl { get; private init; } = DefaultTtl;

    /// <summary>The largest slice under a daily cap: the policy's, or 2% of the cap (at least one micro-dollar).</summary>
    /// <param name="dailyCap">The key's daily cap.</param>
    public Usd MaxSliceFor(Usd dailyCap) =>
        MaxSlice ?? Usd.FromMicros(Math.Max(1, dailyCap.Micros / 10_000 * DefaultMaxSliceBasisPoints));

    internal static LeaseSettings TryCompile(List<string> errors, string prefix, LeaseOptions? options)
    {
        if (options is null)
        {
            return Automatic;
        }

        if (options.MaxSlice is { } maxSlice && (maxSlice.Micros <= 0 || maxSlice > Usd.MaxValue))
        {
            errors.Add($"{prefix}:MaxSlice must be more than $0 and at most {Usd.MaxValue}");
        }

        if (options.Ttl is { } ttl && (ttl < TimeSpan.FromSeconds(1) || ttl > TimeSpan.FromHours(1)))
        {
            errors.Add($"{prefix}:Ttl must be between 00:00:01 and 01:00:00");
        }

        return options.Enabled is null && options.MaxSlice is null && options.Ttl is null
            ? Automatic
            : new LeaseSettings { Enabled = options.Enabled, MaxSlice = options.MaxSlice, Ttl = options.Ttl ?? DefaultTtl };
    }
}
