using System.Collections.Frozen;

namespace Keybrake.Policies;

/// <summary>
/// A key's policy compiled for the hot path: parsed rules, a resolved time zone, frozen allowlists. The guard and
/// the budget service compile a policy the same way (<see cref="Compile"/>, <see cref="TryCompile"/>), so they
/// agree on what it allows.
/// </summary>
public sealed class KeyPolicy
{
    // Compiled only here (Compile, TryCompile, Tightened): a KeyPolicy is always a valid one.
    private KeyPolicy()
    {
    }

    /// <summary>The most the key may spend in one day (<see cref="Usd.MaxValue"/> when the budget service holds the cap).</summary>
    public Usd DailyCap { get; private init; } = Usd.Zero;

    /// <summary>The time zone whose midnight starts the key's day.</summary>
    public TimeZoneInfo TimeZone { get; private init; } = TimeZoneInfo.Utc;

    /// <summary>The most one agent run may spend with the key, or <see langword="null"/> for no run cap.</summary>
    public Usd? RunCap { get; private init; }

    /// <summary>The most one call may cost, or <see langword="null"/> for no per-request maximum.</summary>
    public Usd? PerRequestMax { get; private init; }

    /// <summary>The key's endpoint rules.</summary>
    public EndpointRules Endpoints { get; private init; } = EndpointRules.AllowAll;

    /// <summary>The vendor allowlists by name (case-insensitive); values compare ordinally.</summary>
    public FrozenDictionary<string, FrozenSet<string>> Scope { get; private init; } = FrozenDictionary<string, FrozenSet<string>>.Empty;

    /// <summary>The vendor numeric limits by name (case-insensitive).</summary>
    public FrozenDictionary<string, long> Limits { get; private init; } = FrozenDictionary<string, long>.Empty;

    /// <summary>The most calls the key may make in any sliding minute, or <see langword="null"/> for no limit.</summary>
    public int? RequestsPerMinute { get; private init; }

    /// <summary>What calls that cost nothing do while the budget service cannot be reached.</summary>
    public OutageBehavior ReadsDuringOutage { get; private init; }

    /// <summary>The policy's setting; empty when it sets none.</summary>
    public UnknownObjectBehavior? UnknownObjectsSetting { get; private init; }

    /// <summary>What a failed lookup does: <see cref="UnknownObjectBehavior.Deny"/> unless the policy opts in.</summary>
    public UnknownObjectBehavior UnknownObjects => UnknownObjectsSetting ?? UnknownObjectBehavior.Deny;

    /// <summary>How many identical requests the loop breaker allows within <see cref="LoopWindow"/> (0: the breaker is off).</summary>
    public int LoopMaxRepeats { get; private init; }

    /// <summary>The window the loop breaker counts identical requests in.</summary>
    public TimeSpan LoopWindow { get; private init; }

    /// <summary>Budget leases: whether the key leases (<see langword="null"/> for automatic), the largest slice, and a slice's lifetime.</summary>
    public LeaseSettings Lease { get; private init; } = LeaseSettings.Automatic;

    /// <summary>Whether the run cap also counts the LLM spend reported for the run (<c>RunCapIncludes: [ "llm" ]</c>).</summary>
    public bool RunCapIncludesLlm { get; private init; }

    /// <summary>Compiles validated options. Throws <see cref="ArgumentException"/> naming the field for anything invalid.</summary>
    /// <param name="keyId">The key, for messages.</param>
    /// <param name="options">The policy.</param>
    /// <param name="capsAreCentral">The budget service enforces the caps, so the policy need not set them here.</param>
    public static KeyPolicy Compile(string keyId, KeybrakePolicyOptions options, bool capsAreCentral = false)
    {
        var errors = new List<string>();
        var policy = TryCompile(keyId, options, errors, capsAreCentral);
        return policy ?? throw new ArgumentException(string.Join("; ", errors), nameof(options));
    }

    /// <summary>Compiles options, adding a message that names the field for each problem.</summary>
    /// <param name="keyId">The key, for messages.</param>
    /// <param name="options">The policy.</param>
    /// <param name="errors">Where each problem is added, as <c>Keybrake:Keys:&lt;key&gt;:Policy:&lt;field&gt; ...</c>.</param>
    /// <param name="capsAreCentral">The budget service enforces the caps, so the policy need not set them here.</param>
    /// <returns>The compiled policy, or <see langword="null"/> when a problem was added.</returns>
    public static KeyPolicy? TryCompile(string keyId, KeybrakePolicyOptions options, List<string> errors, bool capsAreCentral = false)
    {
        var before = errors.Count;
        var prefix = $"Keybrake:Keys:{keyId}:Policy";

        if (options.DailyCap is not { } dailyCap)
        {
            if (!capsAreCentral)
            {
                errors.Add($"{prefix}:DailyCap is required (write \"0\" to deny every call that costs money)");
            }

            // In central mode the service's policy holds the cap; nothing in this process enforces this one.
            dailyCap = capsAreCentral ? Usd.MaxValue : Usd.Zero;
        }

        CheckAmount(errors, $"{prefix}:DailyCap", options.DailyCap);
        CheckAmount(errors, $"{prefix}:RunCap", options.RunCap);
        CheckAmount(errors, $"{prefix}:PerRequestMax", options.PerRequestMax);

        var zone = TimeZoneInfo.Utc;
        if (!string.IsNullOrWhiteSpace(options.TimeZone))
        {
            if (!IsIanaId(options.TimeZone) || !TimeZoneInfo.TryFindSystemTimeZoneById(options.TimeZone, out var found))
            {
                errors.Add($"{prefix}:TimeZone '{ShownValue.Of(options.TimeZone)}' is not an IANA time zone this machine knows; use an IANA id such as 'America/New_York'");
            }
            else
            {
                zone = found;
            }
        }

        var allow = CompileRules(errors, $"{prefix}:Endpoints:Allow", options.Endpoints.Allow);
        var deny = CompileRules(errors, $"{prefix}:Endpoints:Deny", options.Endpoints.Deny);

        foreach (var (name, values) in options.Scope)
        {
            if (values is null || values.Any(string.IsNullOrWhiteSpace))
            {
                errors.Add($"{prefix}:Scope:{name} has an empty value");
            }
        }

        if (options.UnknownObjects is { } unknownObjects && !Enum.IsDefined(unknownObjects))
        {
            errors.Add($"{prefix}:UnknownObjects must be Deny or ReservePerRequestMax");
        }

        foreach (var (name, value) in options.Limits)
        {
            if (value < 0)
            {
                errors.Add($"{prefix}:Limits:{name} is negative");
            }
        }

        var lease = LeaseSettings.TryCompile(errors, $"{prefix}:Lease", options.Lease);
        var includesLlm = false;
        foreach (var include in options.RunCapIncludes)
        {
            if (string.Equals(include, LeaseSettings.LlmVendor, StringComparison.OrdinalIgnoreCase))
            {
                includesLlm = true;
            }
            else
            {
                errors.Add($"{prefix}:RunCapIncludes '{ShownValue.Of(include ?? string.Empty)}' is not something a run cap can include (it can include: llm)");
            }
        }

        // Where the caps are enforced, a run cap that includes LLM spend needs a run cap to include it in.
        if (includesLlm && options.RunCap is null && !capsAreCentral)
        {
            errors.Add($"{prefix}:RunCapIncludes needs a RunCap: set the run's cap that LLM spend and this key's calls count against");
        }

        if (errors.Count > before)
        {
            return null;
        }

        return new KeyPolicy
        {
            DailyCap = dailyCap,
            TimeZone = zone,
            RunCap = options.RunCap,
            PerRequestMax = options.PerRequestMax,
            Endpoints = allow.Length == 0 && deny.Length == 0 ? EndpointRules.AllowAll : new EndpointRules(allow, deny),
            Scope = options.Scope.ToFrozenDictionary(
                pair => pair.Key,
                pair => pair.Value.ToFrozenSet(StringComparer.Ordinal),
                StringComparer.OrdinalIgnoreCase),
            Limits = options.Limits.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase),
            RequestsPerMinute = options.RequestsPerMinute,
            ReadsDuringOutage = options.ReadsDuringOutage,
            UnknownObjectsSetting = options.UnknownObjects,
            LoopMaxRepeats = options.LoopBreaker.MaxRepeats,
            LoopWindow = options.LoopBreaker.Window,
            Lease = lease,
            RunCapIncludesLlm = includesLlm,
        };
    }

    /// <summary>
    /// The policy a call must pass in central mode: the budget service's for the key, tightened by the process's
    /// own where it is stricter, never loosened. Caps and the day's time zone are the service's alone.
    /// </summary>
    /// <param name="service">The budget service's policy for the key.</param>
    /// <param name="local">The process's own policy for the key.</param>
    public static KeyPolicy Tightened(KeyPolicy service, KeyPolicy local)
    {
        var scope = new Dictionary<string, FrozenSet<string>>(service.Scope, StringComparer.OrdinalIgnoreCase);
        foreach (var (name, values) in local.Scope)
        {
            scope[name] = scope.TryGetValue(name, out var central) ? central.Intersect(values, StringComparer.Ordinal).ToFrozenSet(StringComparer.Ordinal) : values;
        }

        var limits = new Dictionary<string, long>(service.Limits, StringComparer.OrdinalIgnoreCase);
        foreach (var (name, value) in local.Limits)
        {
            limits[name] = limits.TryGetValue(name, out var central) ? Math.Min(central, value) : value;
        }

        // 0 turns the loop breaker off: the stricter setting is the smaller non-zero count, over the longer window.
        var repeats = (service.LoopMaxRepeats, local.LoopMaxRepeats) switch
        {
            (0, var other) => other,
            (var other, 0) => other,
            var (a, b) => Math.Min(a, b),
        };

        return new KeyPolicy
        {
            DailyCap = service.DailyCap,
            TimeZone = service.TimeZone,
            RunCap = service.RunCap,
            PerRequestMax = Smaller(service.PerRequestMax, local.PerRequestMax),
            Endpoints = EndpointRules.Both(service.Endpoints, local.Endpoints),
            Scope = scope.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase),
            Limits = limits.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase),
            RequestsPerMinute = (service.RequestsPerMinute, local.RequestsPerMinute) switch
            {
                (null, var other) => other,
                (var other, null) => other,
                var (a, b) => Math.Min(a!.Value, b!.Value),
            },
            ReadsDuringOutage = service.ReadsDuringOutage == OutageBehavior.Deny || local.ReadsDuringOutage == OutageBehavior.Deny ? OutageBehavior.Deny : OutageBehavior.Allow,
            // The fallback is the service's to allow (unset there is Deny); a process can only take it away.
            UnknownObjectsSetting = local.UnknownObjectsSetting == UnknownObjectBehavior.Deny ? UnknownObjectBehavior.Deny : service.UnknownObjectsSetting,
            LoopMaxRepeats = repeats,
            LoopWindow = service.LoopWindow > local.LoopWindow ? service.LoopWindow : local.LoopWindow,
            // Leasing and what the run cap counts are the service's; a process can only turn leasing off for itself.
            Lease = local.Lease.Enabled == false ? LeaseSettings.Off : service.Lease,
            RunCapIncludesLlm = service.RunCapIncludesLlm,
        };
    }

    private static Usd? Smaller(Usd? a, Usd? b) => a is null ? b : b is null ? a : (a.Value < b.Value ? a : b);

    /// <summary>The allowlist of that name, or <see langword="null"/> when the policy sets none.</summary>
    /// <param name="name">The allowlist's name, such as <c>customers</c>.</param>
    public IReadOnlySet<string>? GetAllowlist(string name) => Scope.TryGetValue(name, out var set) ? set : null;

    /// <summary>The limit of that name, or <see langword="null"/> when the policy sets none.</summary>
    /// <param name="name">The limit's name, such as <c>maxSegments</c>.</param>
    public long? GetLimit(string name) => Limits.TryGetValue(name, out var value) ? value : null;

    /// <summary>
    /// Whether a time zone id is an IANA id. On Linux and macOS .NET also finds a zone by its Windows name
    /// ("Eastern Standard Time"), which the other platforms' processes sharing the policy may not; a Windows name
    /// that is not also an IANA one ("UTC" is both) is refused, so every process reads the day the same way.
    /// </summary>
    private static bool IsIanaId(string id) =>
        id.Length <= 64
        && (TimeZoneInfo.TryConvertIanaIdToWindowsId(id, out _) || !TimeZoneInfo.TryConvertWindowsIdToIanaId(id, out _));

    private static void CheckAmount(List<string> errors, string field, Usd? amount)
    {
        if (amount is { } value && (value.Micros < 0 || value > Usd.MaxValue))
        {
            errors.Add($"{field} must be between $0 and {Usd.MaxValue}");
        }
    }

    private static EndpointPattern[] CompileRules(List<string> errors, string field, IList<string> rules)
    {
        var compiled = new List<EndpointPattern>(rules.Count);
        for (var i = 0; i < rules.Count; i++)
        {
            if (EndpointPattern.TryParse(rules[i], out var pattern, out var error))
            {
                compiled.Add(pattern);
            }
            else
            {
                errors.Add($"{field}:{i}: {error}");
            }
        }

        return [.. compiled];
    }
}
