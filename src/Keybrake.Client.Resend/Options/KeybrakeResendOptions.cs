namespace Keybrake.Client.Resend;

/// <summary>Resend settings of the guard, bound from <c>Keybrake:Resend</c>.</summary>
public sealed class KeybrakeResendOptions
{
    /// <summary>The configuration section bound to these options.</summary>
    public const string SectionName = "Keybrake:Resend";

    /// <summary>
    /// The default price of one email: USD 0.0009, Resend's pay-as-you-go overage price on the Transactional Pro
    /// plan ($0.90 per 1,000 emails past the 50,000 a month the $20 plan includes), as Resend publishes it on
    /// resend.com/pricing and in its pay-as-you-go announcement (checked 2026-12-01). It is the marginal cost of one
    /// more email once the plan's quota is used; emails within the quota cost less.
    /// </summary>
    public static readonly Usd DefaultPricePerEmail = Usd.FromMicros(900);

    /// <summary>
    /// What one email costs, for every Resend key without its own price in <see cref="KeyPrices"/>. Resend counts
    /// each <c>to</c>, <c>cc</c> and <c>bcc</c> recipient as one email, so a call reserves this price times its
    /// recipients. In configuration a decimal string such as <c>"0.0009"</c>. Default <see cref="DefaultPricePerEmail"/>.
    /// </summary>
    public Usd PricePerEmail { get; set; } = DefaultPricePerEmail;

    /// <summary>The price of one email for particular keys, by key id (for example a key on another Resend plan).</summary>
    public IDictionary<string, Usd> KeyPrices { get; } = new Dictionary<string, Usd>(StringComparer.Ordinal);

    /// <summary>The price of one email for a key.</summary>
    internal Usd PriceFor(string keyId) => KeyPrices.TryGetValue(keyId, out var price) ? price : PricePerEmail;
}
