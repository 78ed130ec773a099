namespace Keybrake.Client;

/// <summary>
/// A brake key resolved to its id, vendor, real secret and compiled policy. Public as part of the
/// <see cref="IBudgetLedger"/> extension point; the secret itself stays inside Keybrake.Client.
/// </summary>
public sealed class ResolvedKey
{
    private volatile SecretForms? _forms;

    internal ResolvedKey(string id, string vendor, string vendorSecret, KeyPolicy policy, Uri? vendorEndpoint = null, long secretVersion = 0)
    {
        Id = id;
        Vendor = vendor;
        VendorSecret = vendorSecret;
        Policy = policy;
        VendorEndpoint = vendorEndpoint;
        SecretVersion = secretVersion;
    }

    /// <summary>The key id: safe to log and audit.</summary>
    public string Id { get; }

    /// <summary>The vendor the key is for, in lower case (<c>stripe</c>, <c>twilio</c>, <c>resend</c>).</summary>
    public string Vendor { get; }

    /// <summary>The real vendor secret. Goes on the outgoing request and nowhere else.</summary>
    internal string VendorSecret { get; }

    /// <summary>
    /// Whether the key has a vendor secret to put on its calls: its own from the configuration, or one the budget
    /// service delivered (<see cref="WithVendorSecret"/>).
    /// </summary>
    public bool HasVendorSecret => VendorSecret.Length > 0;

    /// <summary>
    /// The version of the budget service's secret this key carries (sent on <c>Authorize</c>, so that the service can
    /// refuse a rotated one); 0 for a secret from the process's own configuration.
    /// </summary>
    public long SecretVersion { get; }

    /// <summary>The compiled policy the key's calls are checked against.</summary>
    public KeyPolicy Policy { get; }

    /// <summary>The stand-in that receives the secret instead of the vendor's hosts, or <see langword="null"/> for the vendor itself.</summary>
    public Uri? VendorEndpoint { get; }

    /// <summary>The same key checked against <paramref name="policy"/> instead (such as the budget service's policy, tightened by this process's own).</summary>
    public ResolvedKey WithPolicy(KeyPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(policy);
        return new ResolvedKey(Id, Vendor, VendorSecret, policy, VendorEndpoint, SecretVersion);
    }

    /// <summary>
    /// The same key carrying <paramref name="vendorSecret"/>, version <paramref name="version"/> of the secret the
    /// budget service holds for it. The secret can be given to a key, never read back from one outside this assembly.
    /// </summary>
    public ResolvedKey WithVendorSecret(string vendorSecret, long version)
    {
        ArgumentException.ThrowIfNullOrEmpty(vendorSecret);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(version);
        return new ResolvedKey(Id, Vendor, vendorSecret, Policy, VendorEndpoint, version);
    }

    /// <summary>
    /// The forms of the secret to take out of a response, given the credential that went on the wire. Cached:
    /// a key is used with one credential (Bearer, or one Twilio account's Basic pair) nearly always.
    /// </summary>
    internal SecretForms SecretFormsFor(string? credential)
    {
        var forms = _forms;
        if (forms is null || !string.Equals(forms.Credential, credential, StringComparison.Ordinal))
        {
            forms = SecretForms.Create(VendorSecret, credential);
            _forms = forms;
        }

        return forms;
    }

    /// <summary>Keeps the secret out of anything that prints the key.</summary>
    public override string ToString() => $"key '{Id}' ({Vendor})";
}
