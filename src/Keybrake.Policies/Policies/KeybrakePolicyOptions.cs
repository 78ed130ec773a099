using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Keybrake.Policies;

/// <summary>What one key may do. Checked in this order: revocation, endpoint rules, vendor allowlists,
/// per-request maximum, rate and loop limits, then the daily and per-run caps (a key already at its rate limit
/// is denied before the vendor allowlists, which may look an object up at the vendor).</summary>
public sealed class KeybrakePolicyOptions
{
    /// <summary>
    /// The most the key may spend in one day, counting settled calls and reservations not yet settled.
    /// Required in embedded mode (zero denies every call that costs money); in central mode the budget
    /// service's policy holds the cap.
    /// </summary>
    public Usd? DailyCap { get; set; }

    /// <summary>
    /// The IANA time zone whose midnight starts the key's day, such as <c>America/New_York</c>.
    /// Empty means UTC.
    /// </summary>
    public string? TimeZone { get; set; }

    /// <summary>The most one agent run (see <c>KeybrakeRun</c>) may spend with this key. Empty for no run cap.</summary>
    public Usd? RunCap { get; set; }

    /// <summary>
    /// The most one call may cost. Also the estimate for calls whose cost cannot be known in advance (for
    /// example a refund of a charge Keybrake has not seen); such calls are denied when it is empty.
    /// </summary>
    public Usd? PerRequestMax { get; set; }

    /// <summary>
    /// What a call does when the object it refers to (the charge a refund names, say) went through neither the
    /// guard nor, in central mode, the budget service, and looking it up at the vendor failed. Empty means
    /// <see cref="UnknownObjectBehavior.Deny"/>. In central mode the budget service's policy decides, and a process
    /// can only make it stricter: its own <see cref="UnknownObjectBehavior.Deny"/> applies, its opt-in does not.
    /// </summary>
    public UnknownObjectBehavior? UnknownObjects { get; set; }

    /// <summary>Which endpoints the key may call.</summary>
    public EndpointRulesOptions Endpoints { get; set; } = new();

    /// <summary>
    /// Vendor allowlists by name, such as <c>customers</c> and <c>accounts</c> for Stripe. A list that is
    /// present allows only its values; an absent list allows any. Each vendor package documents its names.
    /// </summary>
    public IDictionary<string, List<string>> Scope { get; } = new Dictionary<string, List<string>>(StringComparer.OrdinalIgnoreCase);

    /// <summary>Vendor numeric limits by name, such as <c>maxSegments</c> for Twilio.</summary>
    public IDictionary<string, long> Limits { get; } = new Dictionary<string, long>(StringComparer.OrdinalIgnoreCase);

    /// <summary>The most calls the key may make in any sliding minute, in this process. Empty for no limit.</summary>
    [Range(1, 1_000_000)]
    public int? RequestsPerMinute { get; set; }

    /// <summary>
    /// In central mode, what calls that cost nothing do while the budget service cannot be reached (default
    /// <see cref="OutageBehavior.Allow"/>). Calls that cost money always fail closed with <c>budget_service_unavailable</c>,
    /// unless the process has an emergency allowance left.
    /// </summary>
    public OutageBehavior ReadsDuringOutage { get; set; } = OutageBehavior.Allow;

    /// <summary>Stops an agent that sends the same request over and over.</summary>
    [ValidateObjectMembers]
    public LoopBreakerOptions LoopBreaker { get; set; } = new();

    /// <summary>
    /// In central mode, budget leases: a process decides money calls against a slice of the budget the service leased
    /// to it, with no round trip per call, and the caps stay exact. The budget service's policy decides; a process can
    /// only turn leasing off for itself (<see cref="LeaseOptions.Enabled"/> <see langword="false"/>).
    /// </summary>
    [ValidateObjectMembers]
    public LeaseOptions Lease { get; set; } = new();

    /// <summary>
    /// What else a run's spend includes when checked against <see cref="RunCap"/>: <c>llm</c> adds the LLM spend the
    /// budget service received for the run from LiteLLM's spend logs, so that a money call is denied once tokens plus
    /// this key's calls would pass the run cap. Central mode only: only the service receives LLM spend.
    /// </summary>
    public IList<string> RunCapIncludes { get; } = [];

    /// <summary>Adds values to a vendor allowlist, creating it when absent.</summary>
    public KeybrakePolicyOptions Allow(string scopeName, params string[] values)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(scopeName);
        ArgumentNullException.ThrowIfNull(values);
        if (!Scope.TryGetValue(scopeName, out var list))
        {
            list = [];
            Scope[scopeName] = list;
        }

        list.AddRange(values);
        return this;
    }
}

/// <summary>
/// Endpoint rules written as <c>METHOD /path</c>: <c>*</c> matches one path segment, <c>**</c> (last only)
/// the rest of the path, and method <c>*</c> any method. A matching deny rule always wins; when any allow
/// rule is present, a call that matches none is denied.
/// </summary>
public sealed class EndpointRulesOptions
{
    /// <summary>Rules a call must match one of, such as <c>POST /v1/refunds</c> or <c>GET /v1/**</c>.</summary>
    public IList<string> Allow { get; } = [];

    /// <summary>Rules that deny a call whatever else matches, such as <c>* /v1/payouts/**</c>.</summary>
    public IList<string> Deny { get; } = [];
}

/// <summary>
/// The loop breaker: the same request (method, URL and body) more than <see cref="MaxRepeats"/> times within
/// <see cref="Window"/> is denied with <c>loop_detected</c>. A retry that reuses the same
/// <c>Idempotency-Key</c> is the same call, not a repeat. Applies to calls that change something, not to reads.
/// </summary>
public sealed class LoopBreakerOptions
{
    /// <summary>How many identical requests are allowed within the window (default 3; 0 turns the breaker off).</summary>
    [Range(0, 100_000)]
    public int MaxRepeats { get; set; } = 3;

    /// <summary>The window identical requests are counted in (default one minute).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan Window { get; set; } = TimeSpan.FromMinutes(1);
}

/// <summary>
/// Budget leases for a key in central mode (see <see cref="KeybrakePolicyOptions.Lease"/>). The service sizes each slice
/// as a fair share of what remains, shrinks slices as the cap nears, and leaves the last part of the budget to go call
/// by call, so the whole cap stays usable.
/// </summary>
public sealed class LeaseOptions
{
    /// <summary>
    /// <see langword="true"/> to lease, <see langword="false"/> never to (every money call asks the service), empty for
    /// automatic: a process leases once its calls on the key come fast enough for the round trip to matter.
    /// </summary>
    public bool? Enabled { get; set; }

    /// <summary>The largest slice one process holds at a time. Empty for 2% of the daily cap.</summary>
    public Usd? MaxSlice { get; set; }

    /// <summary>How long a slice lasts unless topped up (1 second to 1 hour). Empty for 30 seconds. A process that dies strands its slice this long.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan? Ttl { get; set; }
}

/// <summary>What a call does when the object it refers to cannot be looked up at the vendor.</summary>
public enum UnknownObjectBehavior
{
    /// <summary>The call is denied with <c>object_lookup_failed</c>.</summary>
    Deny,

    /// <summary>
    /// The call reserves the policy's <see cref="KeybrakePolicyOptions.PerRequestMax"/> in place of a cost it
    /// cannot know. A key with a customer or account allowlist still denies it: whose money it is cannot be checked.
    /// </summary>
    ReservePerRequestMax,
}

/// <summary>What a call does while the budget service cannot be reached.</summary>
public enum OutageBehavior
{
    /// <summary>The call goes ahead on the local checks alone.</summary>
    Allow,

    /// <summary>The call is denied with <c>budget_service_unavailable</c>.</summary>
    Deny,
}
