namespace Keybrake.Client;

/// <summary>
/// A key's real vendor secret and the stand-in that receives it instead of the vendor's hosts (from
/// <see cref="KeybrakeKeyOptions.VendorEndpoint"/>), for a profile's own request to the vendor. Prints without the secret.
/// </summary>
public sealed class VendorCredential
{
    internal VendorCredential(string secret, Uri? standIn)
    {
        Secret = secret;
        StandIn = standIn;
    }

    /// <summary>The real vendor secret: for the credential of a request to the vendor's own host (or the stand-in) only.</summary>
    public string Secret { get; }

    /// <summary>Where requests for the vendor's hosts go instead (scheme, host and port), or <see langword="null"/> for the vendor itself.</summary>
    public Uri? StandIn { get; }

    /// <summary>Keeps the secret out of anything that prints the credential.</summary>
    public override string ToString() => StandIn is null ? "vendor credential" : $"vendor credential (stand-in {StandIn.Scheme}://{StandIn.Authority})";
}
