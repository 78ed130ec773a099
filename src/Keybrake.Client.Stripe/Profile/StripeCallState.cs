namespace Keybrake.Client.Stripe;

/// <summary>What the Stripe profile learns about a call between its request and its response.</summary>
internal sealed class StripeCallState
{
    public StripeCallState(StripeEndpoint endpoint) => Endpoint = endpoint;

    public StripeEndpoint Endpoint { get; }

    /// <summary>The id of the object the call acts on (charge, payment intent, ...), if any.</summary>
    public string? ReferenceId { get; set; }

    /// <summary>That object as Keybrake recorded it, when it went through the guard.</summary>
    public VendorObject? Reference { get; set; }
}
