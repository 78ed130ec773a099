using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using Google.Protobuf;
using Keybrake.Protocol;

namespace Keybrake.Cli.Policies;

/// <summary>
/// The options that write a key's policy: <c>--policy-file</c> (the whole policy, as JSON) and one option per
/// field, which override what the file (or, for <c>keys update</c>, the key's current policy) says.
/// </summary>
internal sealed class PolicyOptions
{
    /// <summary>The word that removes a limit or empties a list.</summary>
    public const string None = "none";

    private static readonly JsonParser s_parser = new(JsonParser.Settings.Default.WithIgnoreUnknownFields(false));

    public Option<FileInfo?> File { get; } = new("--policy-file")
    {
        Description = "The policy as JSON, in the protobuf JSON shape of Policy (amounts in micro-USD), e.g. {\"dailyCapMicroUsd\": \"100000000\", \"allowEndpoints\": [\"POST /v1/refunds\"]}. The options below override its fields.",
        HelpName = "path",
    };

    public Option<long?> DailyCap { get; } = new("--daily-cap")
    {
        Description = "The most the key may spend per day, in USD (e.g. 100 or 12.50). 0 lets no money move.",
        HelpName = "usd",
        CustomParser = r => Dollars(r, "--daily-cap"),
    };

    public Option<Clearable<long>?> RunCap { get; } = new("--run-cap")
    {
        Description = "The most one agent run may spend, in USD, or 'none'.",
        HelpName = "usd|none",
        CustomParser = r => UsdOrNone(r, "--run-cap"),
    };

    public Option<Clearable<long>?> PerRequestMax { get; } = new("--per-request-max")
    {
        Description = "The most one request may cost, in USD, or 'none'.",
        HelpName = "usd|none",
        CustomParser = r => UsdOrNone(r, "--per-request-max"),
    };

    public Option<string?> TimeZone { get; } = new("--time-zone")
    {
        Description = "The IANA time zone whose midnight starts the key's day, e.g. America/New_York; 'UTC' for UTC (the default).",
        HelpName = "zone",
    };

    public Option<string[]> Allow { get; } = new("--allow")
    {
        Description = "An endpoint the key may call, \"METHOD /path\" (* one segment, ** the rest, method * for any). Repeat it for more; replaces the allow list; 'none' empties it. With an allow list, everything else is denied.",
        HelpName = "rule",
        Arity = ArgumentArity.OneOrMore,
        CustomParser = r => Rules(r, "--allow"),
    };

    public Option<string[]> Deny { get; } = new("--deny")
    {
        Description = "An endpoint the key may never call, \"METHOD /path\". Repeat it for more; replaces the deny list; 'none' empties it. Deny rules win over allow rules.",
        HelpName = "rule",
        Arity = ArgumentArity.OneOrMore,
        CustomParser = r => Rules(r, "--deny"),
    };

    public Option<List<KeyValuePair<string, string[]>>> Scope { get; } = new("--scope")
    {
        Description = "A vendor allowlist, name=value1,value2 (Stripe: customers, accounts; Twilio: destinations, senders; Resend: recipientDomains), e.g. customers=cus_1,cus_2. Repeat it for more lists; 'name=' removes that list.",
        HelpName = "name=values",
        Arity = ArgumentArity.OneOrMore,
        CustomParser = Scopes,
    };

    public Option<List<KeyValuePair<string, long?>>> VendorLimit { get; } = new("--vendor-limit")
    {
        Description = "A vendor's numeric limit, name=n (Twilio: maxSegments; Resend: maxRecipientsPerEmail, maxRecipientsPerRequest), e.g. maxSegments=3. Repeat it for more; 'name=' removes it.",
        HelpName = "name=n",
        Arity = ArgumentArity.OneOrMore,
        CustomParser = VendorLimits,
    };

    public Option<Clearable<int>?> RequestsPerMinute { get; } = new("--rpm")
    {
        Description = "The most requests the key may make per minute, or 'none'.",
        HelpName = "n|none",
        CustomParser = r => CountOrNone(r, "--rpm"),
    };

    public Option<string?> ReadsDuringOutage { get; } = new("--reads-during-outage")
    {
        Description = "Whether calls that cost nothing go through while the budget service cannot be reached.",
        HelpName = "allow|deny",
    };

    public Option<string?> UnknownObjects { get; } = new("--unknown-objects")
    {
        Description = "What a call does when the object it names (a charge to refund) cannot be looked up at the vendor: deny (default), or reserve the per-request maximum.",
        HelpName = "deny|reserve_per_request_max",
    };

    public Option<int?> LoopMaxRepeats { get; } = new("--loop-max-repeats")
    {
        Description = "The loop breaker: how many times the same request may repeat within the window (default 3; 0 turns it off).",
        HelpName = "n",
        CustomParser = r => Count(r, "--loop-max-repeats", minimum: 0),
    };

    public Option<int?> LoopWindow { get; } = new("--loop-window")
    {
        Description = "The loop breaker's window in seconds (default 60).",
        HelpName = "seconds",
        CustomParser = r => Count(r, "--loop-window", minimum: 1),
    };

    public Option<string?> Lease { get; } = new("--lease")
    {
        Description = "Budget leases (central mode): on (a process decides money calls on a slice of the budget the service leased to it), off (every money call asks the service), or auto (a process leases once its calls on the key come fast enough; the default).",
        HelpName = "on|off|auto",
    };

    public Option<Clearable<long>?> LeaseMaxSlice { get; } = new("--lease-max-slice")
    {
        Description = "The largest slice one process holds, in USD, or 'none' for 2% of the daily cap.",
        HelpName = "usd|none",
        CustomParser = r => PositiveUsdOrNone(r, "--lease-max-slice"),
    };

    public Option<Clearable<int>?> LeaseTtl { get; } = new("--lease-ttl")
    {
        Description = "How long a slice lasts unless topped up, in seconds (1 to 3600), or 'none' for 30. A process that dies strands its slice this long.",
        HelpName = "seconds|none",
        CustomParser = r => SecondsOrNone(r, "--lease-ttl", maximum: 3600),
    };

    public Option<string[]> RunCapIncludes { get; } = new("--run-cap-includes")
    {
        Description = "What else a run's spend includes when checked against the run cap: llm (the LLM spend LiteLLM reports for the run), or 'none' for the key's own calls only. Replaces the list.",
        HelpName = "llm|none",
        Arity = ArgumentArity.OneOrMore,
        CustomParser = RunCapIncludeWords,
    };

    public PolicyOptions()
    {
        ReadsDuringOutage.AcceptOnlyFromAmong("allow", "deny");
        UnknownObjects.AcceptOnlyFromAmong("deny", "reserve_per_request_max");
        Lease.AcceptOnlyFromAmong("on", "off", "auto");
    }

    private IEnumerable<Option> All =>
        [File, DailyCap, RunCap, PerRequestMax, TimeZone, Allow, Deny, Scope, VendorLimit, RequestsPerMinute, ReadsDuringOutage, UnknownObjects, LoopMaxRepeats, LoopWindow,
            Lease, LeaseMaxSlice, LeaseTtl, RunCapIncludes];

    public void AddTo(Command command)
    {
        foreach (var option in All)
        {
            command.Options.Add(option);
        }
    }

    /// <summary>Whether the command line sets anything in the policy.</summary>
    public bool AnyGiven(ParseResult parse) => All.Any(option => parse.GetResult(option) is { Implicit: false });

    /// <summary>
    /// The policy the command line describes: the file's (read and parsed here) or else <paramref name="current"/>
    /// or else an empty one, with the field options applied over it.
    /// </summary>
    /// <exception cref="UsageException">The file cannot be read or is not a policy.</exception>
    public Policy Build(ParseResult parse, Policy? current)
    {
        var policy = parse.GetValue(File) is { } file ? Read(file) : current?.Clone() ?? new Policy();
        Apply(parse, policy);
        return policy;
    }

    /// <summary>Parses a policy in protobuf JSON; an unknown or mistyped field is an error that names it.</summary>
    public static Policy Parse(string json, string source)
    {
        try
        {
            return s_parser.Parse<Policy>(json);
        }
        catch (Exception e) when (e is InvalidProtocolBufferException or InvalidJsonException or FormatException)
        {
            throw new UsageException($"{source} is not a valid policy: {e.Message}");
        }
    }

    private static Policy Read(FileInfo file)
    {
        string json;
        try
        {
            json = System.IO.File.ReadAllText(file.FullName);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"cannot read --policy-file {file}: {e.Message}");
        }

        return Parse(json, $"--policy-file {file}");
    }

    private void Apply(ParseResult parse, Policy policy)
    {
        if (parse.GetValue(DailyCap) is { } dailyCap)
        {
            policy.DailyCapMicroUsd = dailyCap;
        }

        if (parse.GetValue(RunCap) is { } runCap)
        {
            if (runCap.Value is { } value)
            {
                policy.RunCapMicroUsd = value;
            }
            else
            {
                policy.ClearRunCapMicroUsd();
            }
        }

        if (parse.GetValue(PerRequestMax) is { } perRequest)
        {
            if (perRequest.Value is { } value)
            {
                policy.PerRequestMaxMicroUsd = value;
            }
            else
            {
                policy.ClearPerRequestMaxMicroUsd();
            }
        }

        if (parse.GetValue(TimeZone) is { } zone)
        {
            policy.TimeZone = string.Equals(zone, "UTC", StringComparison.OrdinalIgnoreCase) ? string.Empty : zone;
        }

        Replace(parse, policy.AllowEndpoints, Allow);
        Replace(parse, policy.DenyEndpoints, Deny);
        foreach (var (name, values) in parse.GetValue(Scope) ?? [])
        {
            policy.Scope.Remove(name);
            if (values.Length > 0)
            {
                policy.Scope[name] = new StringList { Values = { values } };
            }
        }

        foreach (var (name, limit) in parse.GetValue(VendorLimit) ?? [])
        {
            policy.Limits.Remove(name);
            if (limit is { } value)
            {
                policy.Limits[name] = value;
            }
        }

        if (parse.GetValue(RequestsPerMinute) is { } rpm)
        {
            if (rpm.Value is { } value)
            {
                policy.RequestsPerMinute = value;
            }
            else
            {
                policy.ClearRequestsPerMinute();
            }
        }

        if (parse.GetValue(ReadsDuringOutage) is { } reads)
        {
            policy.ReadsDuringOutage = reads;
        }

        if (parse.GetValue(UnknownObjects) is { } unknownObjects)
        {
            policy.UnknownObjects = unknownObjects;
        }

        if (parse.GetValue(LoopMaxRepeats) is { } repeats)
        {
            policy.LoopBreakerMaxRepeats = repeats;
        }

        if (parse.GetValue(LoopWindow) is { } window)
        {
            policy.LoopBreakerWindowSeconds = window;
        }

        ApplyLease(parse, policy);
        Replace(parse, policy.RunCapIncludes, RunCapIncludes);
    }

    /// <summary>The lease options change their fields of the lease policy; a lease policy left with none set is removed (automatic, the defaults).</summary>
    private void ApplyLease(ParseResult parse, Policy policy)
    {
        var lease = policy.Lease?.Clone() ?? new LeasePolicy();
        switch (parse.GetValue(Lease))
        {
            case "on":
                lease.Enabled = true;
                break;
            case "off":
                lease.Enabled = false;
                break;
            case "auto":
                lease.ClearEnabled();
                break;
        }

        if (parse.GetValue(LeaseMaxSlice) is { } maxSlice)
        {
            if (maxSlice.Value is { } micros)
            {
                lease.MaxSliceMicroUsd = micros;
            }
            else
            {
                lease.ClearMaxSliceMicroUsd();
            }
        }

        if (parse.GetValue(LeaseTtl) is { } ttl)
        {
            if (ttl.Value is { } seconds)
            {
                lease.TtlMilliseconds = seconds * 1_000L;
            }
            else
            {
                lease.ClearTtlMilliseconds();
            }
        }

        policy.Lease = lease.HasEnabled || lease.HasMaxSliceMicroUsd || lease.HasTtlMilliseconds ? lease : null;
    }

    /// <summary>A list option replaces the whole list when given (an option not given reads as an empty list).</summary>
    private static void Replace(ParseResult parse, Google.Protobuf.Collections.RepeatedField<string> list, Option<string[]> option)
    {
        if (parse.GetResult(option) is not { Implicit: false } || parse.GetValue(option) is not { } rules)
        {
            return;
        }

        list.Clear();
        list.Add(rules.Where(rule => rule != None));
    }

    private static long? Dollars(ArgumentResult result, string option)
    {
        if (Usd.TryParse(result.Tokens.Count > 0 ? result.Tokens[0].Value : null, out var amount, out var error))
        {
            return amount.Micros;
        }

        result.AddError($"{option}: {error}");
        return null;
    }

    private static Clearable<long>? UsdOrNone(ArgumentResult result, string option) =>
        result.Tokens.Count > 0 && result.Tokens[0].Value == None ? new Clearable<long>(null)
        : Dollars(result, option) is { } micros ? new Clearable<long>(micros)
        : null;

    private static Clearable<long>? PositiveUsdOrNone(ArgumentResult result, string option)
    {
        if (UsdOrNone(result, option) is not { } amount)
        {
            return null;
        }

        if (amount.Value is 0)
        {
            result.AddError($"{option}: a slice must be more than $0 (write 'none' for the default, 2% of the daily cap)");
            return null;
        }

        return amount;
    }

    private static Clearable<int>? SecondsOrNone(ArgumentResult result, string option, int maximum)
    {
        if (result.Tokens.Count > 0 && result.Tokens[0].Value == None)
        {
            return new Clearable<int>(null);
        }

        if (Count(result, option, minimum: 1) is not { } seconds)
        {
            return null;
        }

        if (seconds > maximum)
        {
            result.AddError(string.Create(CultureInfo.InvariantCulture, $"{option}: '{seconds}' is more than {maximum} seconds"));
            return null;
        }

        return new Clearable<int>(seconds);
    }

    private static string[] RunCapIncludeWords(ArgumentResult result)
    {
        var words = result.Tokens.Select(t => t.Value.Trim().ToLowerInvariant()).ToArray();
        foreach (var word in words)
        {
            if (word != None && word != LeaseSettings.LlmVendor)
            {
                result.AddError($"--run-cap-includes: '{word}' is not something a run cap can include: write llm, or none");
            }
        }

        return words;
    }

    private static int? Count(ArgumentResult result, string option, int minimum)
    {
        var text = result.Tokens.Count > 0 ? result.Tokens[0].Value : string.Empty;
        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var count) && count >= minimum)
        {
            return count;
        }

        result.AddError($"{option}: '{text}' is not a whole number of {minimum} or more");
        return null;
    }

    private static Clearable<int>? CountOrNone(ArgumentResult result, string option) =>
        result.Tokens.Count > 0 && result.Tokens[0].Value == None ? new Clearable<int>(null)
        : Count(result, option, minimum: 1) is { } count ? new Clearable<int>(count)
        : null;

    private static string[] Rules(ArgumentResult result, string option)
    {
        var rules = result.Tokens.Select(t => t.Value.Trim()).ToArray();
        foreach (var rule in rules)
        {
            var space = rule.IndexOf(' ', StringComparison.Ordinal);
            if (rule != None && (space <= 0 || !rule[(space + 1)..].TrimStart().StartsWith('/')))
            {
                result.AddError($"{option}: '{rule}' is not an endpoint rule: write \"METHOD /path\", such as \"POST /v1/refunds\" or \"* /v1/customers/**\"");
            }
        }

        return rules;
    }

    private static List<KeyValuePair<string, string[]>> Scopes(ArgumentResult result) =>
        Pairs<string[]>(result, "--scope", "name=value1,value2, such as customers=cus_123,cus_456", VendorNames.TryScope, (text, _) =>
            text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    private static List<KeyValuePair<string, long?>> VendorLimits(ArgumentResult result) =>
        Pairs<long?>(result, "--vendor-limit", "name=n, such as maxSegments=3", VendorNames.TryLimit, (text, fail) =>
            text.Length == 0 ? null
            : long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n
            : fail($"'{text}' is not a whole number of 0 or more"));

    private delegate bool NameLookup(string name, out string canonical, out string error);

    private static List<KeyValuePair<string, T>> Pairs<T>(ArgumentResult result, string option, string shape, NameLookup names, Func<string, Func<string, T>, T> value)
    {
        var pairs = new List<KeyValuePair<string, T>>();
        foreach (var token in result.Tokens)
        {
            var equals = token.Value.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
            {
                result.AddError($"{option}: '{token.Value}' is not name=value: write {shape}");
                continue;
            }

            if (!names(token.Value[..equals].Trim(), out var name, out var unknown))
            {
                result.AddError($"{option}: {unknown}");
                continue;
            }

            pairs.Add(new(name, value(token.Value[(equals + 1)..].Trim(), message =>
            {
                result.AddError($"{option} {name}: {message}");
                return default!;
            })));
        }

        return pairs;
    }
}

/// <summary>A setting that is either a value or 'none' (<see langword="null"/>): remove the limit.</summary>
internal readonly record struct Clearable<T>(T? Value)
    where T : struct;
