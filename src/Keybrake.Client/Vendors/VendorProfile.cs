namespace Keybrake.Client;

/// <summary>
/// What the guard needs to know about one vendor's API: where its credential sits, which endpoints cost
/// money and how much, what its allowlists mean, and what its errors look like. The core knows no vendor;
/// each vendor package (Stripe, Twilio, Resend) contributes one profile.
/// </summary>
/// <remarks>
/// The guard calls, in order: <see cref="ReadBrakeKey"/>, <see cref="DescribeEndpoint"/>,
/// <see cref="InspectRequestAsync"/>, then either <see cref="CreateDenialResponse"/> or
/// <see cref="ApplyVendorSecret"/> and, after the vendor answered, <see cref="InspectResponseAsync"/>.
/// A profile is a singleton and must be thread-safe; per-call state belongs in <see cref="VendorCall.VendorState"/>.
/// </remarks>
public abstract class VendorProfile
{
    /// <summary>Creates the profile for a vendor name such as <c>stripe</c>.</summary>
    protected VendorProfile(string vendor)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(vendor);
        Vendor = vendor.ToLowerInvariant();
    }

    /// <summary>The vendor name keys refer to, in lower case.</summary>
    public string Vendor { get; }

    /// <summary>The allowlist names this vendor's policies may set (<see cref="KeybrakePolicyOptions.Scope"/>).</summary>
    public virtual IReadOnlyCollection<string> ScopeNames => [];

    /// <summary>The limit names this vendor's policies may set (<see cref="KeybrakePolicyOptions.Limits"/>).</summary>
    public virtual IReadOnlyCollection<string> LimitNames => [];

    /// <summary>
    /// The hosts the vendor's real secret may go to, over <c>https</c> only, such as <c>api.stripe.com</c>. A
    /// request for any other host is denied with <c>host_not_allowed</c> and nothing is sent, unless the key names
    /// a stand-in in <see cref="KeybrakeKeyOptions.VendorEndpoint"/>.
    /// </summary>
    public abstract IReadOnlyCollection<string> SecretHosts { get; }

    /// <summary>
    /// Whether <paramref name="host"/> (lower-case ASCII, as <see cref="Uri.IdnHost"/> gives it) is one of the
    /// vendor's own hosts. By default an exact match against <see cref="SecretHosts"/>; a vendor whose SDK
    /// composes host names may widen it.
    /// </summary>
    public virtual bool IsSecretHost(string host)
    {
        foreach (var allowed in SecretHosts)
        {
            if (string.Equals(host, allowed, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The credential the SDK put on the request, or <see langword="null"/> when there is none.</summary>
    public abstract string? ReadBrakeKey(HttpRequestMessage request);

    /// <summary>
    /// Replaces the brake key on the request with the real vendor secret, just before it is forwarded. The
    /// guard puts the request's original <c>Authorization</c> header back once the send completes, so a
    /// re-sent request carries the brake key again; a profile must keep the secret in that header.
    /// </summary>
    public abstract void ApplyVendorSecret(HttpRequestMessage request, string vendorSecret);

    /// <summary>Sets <see cref="VendorCall.EndpointTemplate"/> and <see cref="VendorCall.IsCostBearing"/> from the method and path.</summary>
    public abstract void DescribeEndpoint(VendorCall vendorCall);

    /// <summary>
    /// Reads the body and headers: checks the vendor allowlists, estimates the cost, records the audit
    /// parameters and the idempotency key. Returns a denial, or <see langword="null"/> to let the call continue.
    /// </summary>
    public abstract ValueTask<GuardDenial?> InspectRequestAsync(VendorCall vendorCall, CancellationToken cancellationToken);

    /// <summary>Reads the vendor's answer: what the call really cost, and objects worth remembering.</summary>
    public abstract ValueTask<VendorSettlement> InspectResponseAsync(VendorCall vendorCall, HttpResponseMessage response, CancellationToken cancellationToken);

    /// <summary>
    /// Builds the response a denied call gets, in the vendor's own error shape and with a status the vendor's
    /// SDK does not retry, so the SDK raises its ordinary exception. The guard adds <see cref="KeybrakeHeaders.Decision"/>.
    /// </summary>
    public abstract HttpResponseMessage CreateDenialResponse(VendorCall vendorCall, GuardDenial denial);
}
