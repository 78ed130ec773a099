namespace Keybrake.Client.Stripe;

/// <summary>Stripe settings of the guard, bound from <c>Keybrake:Stripe</c>.</summary>
public sealed class KeybrakeStripeOptions
{
    /// <summary>The configuration section bound to these options.</summary>
    public const string SectionName = "Keybrake:Stripe";

    /// <summary>
    /// USD value of one major unit per lower-case ISO currency, as a decimal string (<c>"jpy": "0.0067"</c>).
    /// Adds to and overrides the shipped table; a currency with no rate is denied.
    /// </summary>
    public IDictionary<string, string> UsdRates { get; } = new Dictionary<string, string>(StringComparer.Ordinal);
}

/// <summary>How <c>AddStripeClient</c> builds the guarded <c>StripeClient</c>.</summary>
public sealed class KeybrakeStripeClientOptions
{
    /// <summary>The brake key the client is configured with. Set this or <see cref="KeyId"/>.</summary>
    public string? BrakeKey { get; set; }

    /// <summary>The id of a configured key whose brake key the client uses. Set this or <see cref="BrakeKey"/>.</summary>
    public string? KeyId { get; set; }

    /// <summary>Stripe's API base; change it only for a test double.</summary>
    public string? ApiBase { get; set; }

    /// <summary>Stripe's Connect base; change it only for a test double.</summary>
    public string? ConnectBase { get; set; }

    /// <summary>Stripe's files base; change it only for a test double.</summary>
    public string? FilesBase { get; set; }

    /// <summary>How many times Stripe.net retries a failed request (default 2). Retries reuse the Idempotency-Key, so the guard reserves once.</summary>
    public int MaxNetworkRetries { get; set; } = 2;
}
