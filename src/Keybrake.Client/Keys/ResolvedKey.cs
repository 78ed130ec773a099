namespace Keybrake.Client;

/// <summary>
/// A brake key resolved to its id, vendor, real secret and compiled policy. Public as part of the
/// <see cref="IBudgetLedger"/> extension point; the secret itself stays inside Keybrake.Client.
/// </summary>
public sealed class ResolvedKey
{
    private volatile SecretForms? _forms;

    internal ResolvedKey(string id, string vendor, string vendorSecret, KeyPolicy policy, Uri? vendorEndpoint = null)
    {
        Id = id;
        Vendor = vendor;
        VendorSecret = vendorSecret;
        Policy = policy;
        VendorEndpoint = vendorEndpoint;
    }

    /// <summary>The key id: safe to log and audit.</summary>
    public string Id { get; }

    /// <summary>The vendor the key is for, in lower case (<c>stripe</c>, <c>twilio</c>, <c>resend</c>).</summary>
    public string Vendor { get; }

    /// <summary>The real vendor secret. Goes on the outgoing request and nowhere else.</summary>
    internal string VendorSecret { get; }

    /// <summary>The compiled policy the key's calls are checked against.</summary>
    public KeyPolicy Policy { get; }

    /// <summary>The stand-in that receives the secret instead of the vendor's hosts, or <see langword="null"/> for the vendor itself.</summary>
    public Uri? VendorEndpoint { get; }

    /// <summary>The same key checked against <paramref name="policy"/> instead (such as the budget service's policy, tightened by this process's own).</summary>
    public ResolvedKey WithPolicy(KeyPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(policy);
        return new ResolvedKey(Id, Vendor, VendorSecret, policy, VendorEndpoint);
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
