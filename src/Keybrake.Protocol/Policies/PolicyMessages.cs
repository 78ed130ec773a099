using System.Globalization;

namespace Keybrake.Protocol;

/// <summary>
/// A key's policy as the budget service holds it and sends it (<see cref="Policy"/>), to and from the options a
/// process configures. The service and every client compile it the same way, so they agree on what it allows.
/// Problems are reported with the message's own field names (<c>policy.daily_cap_micro_usd</c>), the names an
/// operator wrote in the request.
/// </summary>
public static class PolicyMessages
{
    /// <summary>
    /// The field names of <see cref="Policy"/> for each option a compile error can name. The first option the error
    /// starts with wins: an option that starts with another's name comes before it (RunCapIncludes before RunCap).
    /// </summary>
    private static readonly (string Option, string Field)[] s_fieldNames =
    [
        ("DailyCap", "daily_cap_micro_usd"),
        ("RunCapIncludes", "run_cap_includes"),
        ("RunCap", "run_cap_micro_usd"),
        ("PerRequestMax", "per_request_max_micro_usd"),
        ("TimeZone", "time_zone"),
        ("Endpoints:Allow", "allow_endpoints"),
        ("Endpoints:Deny", "deny_endpoints"),
        ("Scope", "scope"),
        ("Limits", "limits"),
        ("UnknownObjects", "unknown_objects"),
        ("Lease:MaxSlice", "lease.max_slice_micro_usd"),
        ("Lease:Ttl", "lease.ttl_milliseconds"),
    ];

    /// <summary>The message's spelling of <see cref="UnknownObjectBehavior.ReservePerRequestMax"/>.</summary>
    public const string ReservePerRequestMax = "reserve_per_request_max";

    /// <summary>The message for configured options.</summary>
    /// <param name="options">The policy.</param>
    public static Policy ToMessage(KeybrakePolicyOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var message = new Policy
        {
            TimeZone = options.TimeZone ?? string.Empty,
            ReadsDuringOutage = options.ReadsDuringOutage == OutageBehavior.Deny ? "deny" : "allow",
            UnknownObjects = options.UnknownObjects switch
            {
                UnknownObjectBehavior.ReservePerRequestMax => ReservePerRequestMax,
                UnknownObjectBehavior.Deny => "deny",
                _ => string.Empty,
            },
            LoopBreakerMaxRepeats = options.LoopBreaker.MaxRepeats,
            LoopBreakerWindowSeconds = (int)options.LoopBreaker.Window.TotalSeconds,
        };
        if (options.DailyCap is { } daily)
        {
            message.DailyCapMicroUsd = daily.Micros;
        }

        if (options.RunCap is { } run)
        {
            message.RunCapMicroUsd = run.Micros;
        }

        if (options.PerRequestMax is { } max)
        {
            message.PerRequestMaxMicroUsd = max.Micros;
        }

        if (options.RequestsPerMinute is { } rpm)
        {
            message.RequestsPerMinute = rpm;
        }

        message.AllowEndpoints.AddRange(options.Endpoints.Allow);
        message.DenyEndpoints.AddRange(options.Endpoints.Deny);
        foreach (var (name, values) in options.Scope)
        {
            message.Scope[name] = new StringList { Values = { values } };
        }

        foreach (var (name, value) in options.Limits)
        {
            message.Limits[name] = value;
        }

        if (options.Lease is { } lease && (lease.Enabled is not null || lease.MaxSlice is not null || lease.Ttl is not null))
        {
            message.Lease = new LeasePolicy();
            if (lease.Enabled is { } enabled)
            {
                message.Lease.Enabled = enabled;
            }

            if (lease.MaxSlice is { } maxSlice)
            {
                message.Lease.MaxSliceMicroUsd = maxSlice.Micros;
            }

            if (lease.Ttl is { } ttl)
            {
                message.Lease.TtlMilliseconds = (long)ttl.TotalMilliseconds;
            }
        }

        message.RunCapIncludes.AddRange(options.RunCapIncludes);
        return message;
    }

    /// <summary>
    /// Compiles a policy message, adding a message that names the field for each problem. Scope and limit names
    /// are checked against the vendor's when they are given.
    /// </summary>
    /// <param name="keyId">The key, for messages.</param>
    /// <param name="message">The policy message; a problem when <see langword="null"/>.</param>
    /// <param name="errors">Where each problem is added, named by the message's fields.</param>
    /// <param name="scopeNames">The vendor's allowlist names (<see cref="KnownVendor.ScopeNames"/>), or <see langword="null"/> not to check them.</param>
    /// <param name="limitNames">The vendor's limit names (<see cref="KnownVendor.LimitNames"/>), or <see langword="null"/> not to check them.</param>
    /// <returns>The compiled policy, or <see langword="null"/> when a problem was added.</returns>
    public static KeyPolicy? TryCompile(
        string keyId,
        Policy? message,
        List<string> errors,
        IReadOnlyCollection<string>? scopeNames = null,
        IReadOnlyCollection<string>? limitNames = null)
    {
        if (message is null)
        {
            errors.Add("policy is required");
            return null;
        }

        var before = errors.Count;
        var options = new KeybrakePolicyOptions
        {
            TimeZone = message.TimeZone.Length == 0 ? null : message.TimeZone,
            DailyCap = message.HasDailyCapMicroUsd ? Usd.FromMicros(message.DailyCapMicroUsd) : null,
            RunCap = message.HasRunCapMicroUsd ? Usd.FromMicros(message.RunCapMicroUsd) : null,
            PerRequestMax = message.HasPerRequestMaxMicroUsd ? Usd.FromMicros(message.PerRequestMaxMicroUsd) : null,
        };

        if (message.HasRequestsPerMinute)
        {
            if (message.RequestsPerMinute is < 1 or > 1_000_000)
            {
                errors.Add("policy.requests_per_minute must be between 1 and 1000000 (leave it out for no limit)");
            }

            options.RequestsPerMinute = message.RequestsPerMinute;
        }

        switch (message.ReadsDuringOutage.ToLowerInvariant())
        {
            case "" or "allow":
                options.ReadsDuringOutage = OutageBehavior.Allow;
                break;
            case "deny":
                options.ReadsDuringOutage = OutageBehavior.Deny;
                break;
            default:
                errors.Add($"policy.reads_during_outage must be \"allow\" or \"deny\", not \"{message.ReadsDuringOutage}\"");
                break;
        }

        switch (message.UnknownObjects.ToLowerInvariant())
        {
            case "":
                break; // not set: deny, unless a client's own policy is applied on top
            case "deny":
                options.UnknownObjects = UnknownObjectBehavior.Deny;
                break;
            case ReservePerRequestMax:
                options.UnknownObjects = UnknownObjectBehavior.ReservePerRequestMax;
                break;
            default:
                errors.Add($"policy.unknown_objects must be \"deny\" or \"{ReservePerRequestMax}\", not \"{message.UnknownObjects}\"");
                break;
        }

        if (message.HasLoopBreakerMaxRepeats)
        {
            if (message.LoopBreakerMaxRepeats is < 0 or > 100_000)
            {
                errors.Add("policy.loop_breaker_max_repeats must be between 0 (off) and 100000");
            }

            options.LoopBreaker.MaxRepeats = message.LoopBreakerMaxRepeats;
        }

        if (message.HasLoopBreakerWindowSeconds)
        {
            if (message.LoopBreakerWindowSeconds is < 1 or > 86_400)
            {
                errors.Add("policy.loop_breaker_window_seconds must be between 1 and 86400");
            }

            options.LoopBreaker.Window = TimeSpan.FromSeconds(Math.Clamp(message.LoopBreakerWindowSeconds, 1, 86_400));
        }

        foreach (var rule in message.AllowEndpoints)
        {
            options.Endpoints.Allow.Add(rule);
        }

        foreach (var rule in message.DenyEndpoints)
        {
            options.Endpoints.Deny.Add(rule);
        }

        foreach (var (name, list) in message.Scope)
        {
            if (scopeNames is not null && !scopeNames.Contains(name, StringComparer.OrdinalIgnoreCase))
            {
                errors.Add($"policy.scope.{name} is not an allowlist this vendor knows (it knows: {Names(scopeNames)})");
            }

            options.Scope[name] = [.. list?.Values ?? []];
        }

        foreach (var (name, value) in message.Limits)
        {
            if (limitNames is not null && !limitNames.Contains(name, StringComparer.OrdinalIgnoreCase))
            {
                errors.Add($"policy.limits.{name} is not a limit this vendor knows (it knows: {Names(limitNames)})");
            }

            options.Limits[name] = value;
        }

        if (message.Lease is { } lease)
        {
            options.Lease.Enabled = lease.HasEnabled ? lease.Enabled : null;
            options.Lease.MaxSlice = lease.HasMaxSliceMicroUsd ? Usd.FromMicros(lease.MaxSliceMicroUsd) : null;
            if (lease.HasTtlMilliseconds)
            {
                // Out of range is reported by the compile below, in the message's own words.
                options.Lease.Ttl = TimeSpan.FromMilliseconds(Math.Clamp(lease.TtlMilliseconds, 0, (long)TimeSpan.FromDays(1).TotalMilliseconds));
            }
        }

        foreach (var include in message.RunCapIncludes)
        {
            options.RunCapIncludes.Add(include);
        }

        var compileErrors = new List<string>();
        var policy = KeyPolicy.TryCompile(keyId, options, compileErrors);
        errors.AddRange(compileErrors.Select(error => Rename(keyId, error)));
        return errors.Count > before ? null : policy;
    }

    private static string Names(IReadOnlyCollection<string> names) => names.Count == 0 ? "none" : string.Join(", ", names);

    /// <summary>"Keybrake:Keys:k:Policy:DailyCap must ..." becomes "policy.daily_cap_micro_usd must ...".</summary>
    private static string Rename(string keyId, string error)
    {
        var prefix = $"Keybrake:Keys:{keyId}:Policy:";
        if (!error.StartsWith(prefix, StringComparison.Ordinal))
        {
            return error;
        }

        var rest = error[prefix.Length..];
        foreach (var (option, field) in s_fieldNames)
        {
            if (rest.StartsWith(option, StringComparison.Ordinal))
            {
                var tail = rest[option.Length..];

                // "Endpoints:Allow:2: ..." names the rule by index; "Scope:customers has ..." by name.
                tail = tail.Length > 0 && tail[0] == ':' ? "." + tail[1..] : tail;
                var renamed = "policy." + field + tail;
                return renamed.Replace("write \"0\"", "set it to 0", StringComparison.Ordinal)
                    .Replace("between $0 and", string.Create(CultureInfo.InvariantCulture, $"between 0 and {Usd.MaxValue.Micros} micro-USD, i.e. $0 and"), StringComparison.Ordinal);
            }
        }

        return "policy." + rest;
    }
}
