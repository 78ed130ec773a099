namespace Keybrake.Client.Stripe;

/// <summary>What the Stripe profile learns about a call between its request and its response.</summary>
internal sealed class StripeCallState
{
    public StripeCallState(StripeEndpoint endpoint) => Endpoint = endpoint;

    public StripeEndpoint Endpoint { get; }

    /// <summary>The id of the object the call acts on (charge, payment intent, ...), if any.</summary>
    public string? ReferenceId { get; set; }

    /// <summary>The kind of that object, <c>charge</c> or <c>payment_intent</c>, when the call says.</summary>
    public string? ReferenceKind { get; set; }

    /// <summary>That object as Keybrake recorded it, when it went through the guard, or as Stripe described it.</summary>
    public VendorObject? Reference { get; set; }

    /// <summary>Why looking the object up at Stripe failed, when it did.</summary>
    public string? LookupFailure { get; set; }
}
