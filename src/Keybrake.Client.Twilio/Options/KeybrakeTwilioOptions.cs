namespace Keybrake.Client.Twilio;

/// <summary>Twilio settings of the guard, bound from <c>Keybrake:Twilio</c>.</summary>
public sealed class KeybrakeTwilioOptions
{
    /// <summary>The configuration section bound to these options.</summary>
    public const string SectionName = "Keybrake:Twilio";

    /// <summary>
    /// USD per outbound SMS segment by upper-case ISO country (<c>"GB": "0.0524"</c>), for every key. Adds to and
    /// overrides the shipped table.
    /// </summary>
    public IDictionary<string, string> SegmentRates { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>USD per outbound MMS by upper-case ISO country, for every key. Adds to and overrides the shipped table.</summary>
    public IDictionary<string, string> MmsRates { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>Per-key rates by key id: they win over <see cref="SegmentRates"/> and the shipped table for that key.</summary>
    public IDictionary<string, KeybrakeTwilioKeyOptions> Keys { get; } = new Dictionary<string, KeybrakeTwilioKeyOptions>(StringComparer.Ordinal);

    /// <summary>Opt-in: fetches the price of messages still unpriced some time after they were sent.</summary>
    public TwilioPriceReconciliationOptions PriceReconciliation { get; set; } = new();
}

/// <summary>One key's Twilio rates.</summary>
public sealed class KeybrakeTwilioKeyOptions
{
    /// <summary>USD per SMS segment by upper-case ISO country, for this key only.</summary>
    public IDictionary<string, string> SegmentRates { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>
    /// USD per SMS segment (and per MMS) for destinations whose country has no rate. Empty (the default): a
    /// message to such a destination is denied with <c>recipient_not_allowed</c>, never guessed.
    /// </summary>
    public string? DefaultSegmentRate { get; set; }
}

/// <summary>
/// The background price check. A message's price is null when it is created; the guard keeps its estimate
/// reserved until a response that passes the guard shows the real price. When enabled, the guard itself asks
/// Twilio (<c>GET .../Messages/{sid}.json</c>, through the guard, with the same brake key) for messages still
/// unpriced after <see cref="Delay"/>: in embedded mode each process for the messages it sent; in central mode one
/// process per key, elected through the budget service, for all the key's messages the service holds deferred.
/// </summary>
public sealed class TwilioPriceReconciliationOptions
{
    /// <summary>Whether the check runs (default off).</summary>
    public bool Enabled { get; set; }

    /// <summary>How long after sending to ask for the price (default two minutes; Twilio prices most messages within one).</summary>
    public TimeSpan Delay { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>How many times to ask for one message before leaving its estimate counted for an operator (default 5).</summary>
    public int MaxAttempts { get; set; } = 5;

    /// <summary>
    /// Central mode: how long the claim on a key's reconciliation lasts at the budget service (default two minutes). One
    /// process per key is elected and renews its claim every check interval (a quarter of <see cref="Delay"/>, one to
    /// thirty seconds); when it stops renewing (it stopped or died), another takes over after this long. At least
    /// three check intervals.
    /// </summary>
    public TimeSpan ElectionTtl { get; set; } = TimeSpan.FromMinutes(2);
}

/// <summary>How <c>AddTwilioClient</c> builds the guarded <c>TwilioRestClient</c>.</summary>
public sealed class KeybrakeTwilioClientOptions
{
    /// <summary>The Basic-auth user name: the Account SID (<c>AC...</c>) or an API key SID (<c>SK...</c>). Required.</summary>
    public string? Username { get; set; }

    /// <summary>The Account SID the client's calls go to; needed when <see cref="Username"/> is an API key SID.</summary>
    public string? AccountSid { get; set; }

    /// <summary>The brake key the client presents as its password. Set this or <see cref="KeyId"/>.</summary>
    public string? BrakeKey { get; set; }

    /// <summary>The id of a configured key whose brake key the client uses. Set this or <see cref="BrakeKey"/>.</summary>
    public string? KeyId { get; set; }

    /// <summary>Twilio's region, such as <c>ie1</c>; empty for the default.</summary>
    public string? Region { get; set; }

    /// <summary>Twilio's edge location, such as <c>dublin</c>; empty for the default.</summary>
    public string? Edge { get; set; }
}
