namespace Keybrake.Client;

/// <summary>A brake key resolved to its id, vendor, real secret and compiled policy.</summary>
internal sealed class ResolvedKey
{
    public ResolvedKey(string id, string vendor, string vendorSecret, KeyPolicy policy, Uri? vendorEndpoint = null)
    {
        Id = id;
        Vendor = vendor;
        VendorSecret = vendorSecret;
        Policy = policy;
        VendorEndpoint = vendorEndpoint;
    }

    /// <summary>The key id: safe to log and audit.</summary>
    public string Id { get; }

    public string Vendor { get; }

    /// <summary>The real vendor secret. Goes on the outgoing request and nowhere else.</summary>
    public string VendorSecret { get; }

    public KeyPolicy Policy { get; }

    /// <summary>The stand-in that receives the secret instead of the vendor's hosts, or <see langword="null"/> for the vendor itself.</summary>
    public Uri? VendorEndpoint { get; }

    /// <summary>Keeps the secret out of anything that prints the key.</summary>
    public override string ToString() => $"key '{Id}' ({Vendor})";
}
