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

    /// <summary>Opt-in: SMS rates per country from Twilio's Pricing API, with the account's own credentials, in place of the shipped table.</summary>
    public TwilioPricingApiOptions PricingApi { get; set; } = new();
}

/// <summary>
/// SMS rates from Twilio's Pricing API (<c>GET https://pricing.twilio.com/v1/Messaging/Countries/{IsoCountry}</c>), asked
/// with the key's real credentials (the account's own prices, discounts included) the first time a country is needed,
/// then cached per account and country. The estimate per segment is the highest outbound <c>current_price</c> across the
/// country's carriers for the sender's number type (every type when the sender's is unknown): the carrier of a number
/// cannot be known from the number alone, so the guard reserves the dearest. A fetch that fails, times out or answers
/// in a currency other than USD leaves the shipped table in use. Rates configured under <c>SegmentRates</c> (for every
/// key or one key) still win over the API: they are an operator's explicit choice.
/// </summary>
public sealed class TwilioPricingApiOptions
{
    /// <summary>Whether the guard asks the Pricing API (default off: the shipped table, no extra request).</summary>
    public bool Enabled { get; set; }

    /// <summary>How long a country's prices are used before they are asked again (default a day; one minute to thirty days).</summary>
    public TimeSpan CacheDuration { get; set; } = TimeSpan.FromHours(24);

    /// <summary>
    /// The longest a message waits for the Pricing API before its estimate falls back to the shipped table (default
    /// two seconds; 100 ms to 30 s). Only the first message to a country in each <see cref="CacheDuration"/> waits.
    /// </summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(2);
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
