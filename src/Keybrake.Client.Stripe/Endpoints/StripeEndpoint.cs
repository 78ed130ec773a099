namespace Keybrake.Client.Stripe;

/// <summary>Where an endpoint finds the earlier object (charge, payment intent, transfer) it acts on.</summary>
internal enum StripeObjectReference
{
    /// <summary>The call refers to no earlier object.</summary>
    None,

    /// <summary>The object's id is the third path segment: <c>/v1/charges/{id}/capture</c>.</summary>
    PathId,

    /// <summary>The body's <c>charge</c> or <c>payment_intent</c> field, as for <c>POST /v1/refunds</c>.</summary>
    ChargeOrPaymentIntentField,
}

/// <summary>
/// One Stripe endpoint that moves money, and how its cost is counted: from the body's amount, from the
/// object it refers to, or from the policy's per-request maximum when neither is known.
/// </summary>
internal sealed record StripeEndpoint
{
    /// <summary>The path with <c>*</c> for an id, such as <c>/v1/charges/*/capture</c>.</summary>
    public required string Pattern { get; init; }

    /// <summary>The audit template, such as <c>/v1/charges/{id}/capture</c>.</summary>
    public required string Template { get; init; }

    /// <summary>The body field holding the amount in minor units, or <see langword="null"/> when the body has none.</summary>
    public string? AmountField { get; init; }

    /// <summary>Whether a missing amount is a malformed request (Stripe requires it there).</summary>
    public bool AmountRequired { get; init; }

    /// <summary>Where the object the call acts on is named.</summary>
    public StripeObjectReference Reference { get; init; }

    /// <summary>
    /// Whether the charge or payment intent the call refers to is looked up at Stripe when the guard has not seen
    /// it and the decision needs it (its amount, currency, customer or connected account).
    /// </summary>
    public bool LooksUp { get; init; }

    /// <summary>Whether an amount left out means "the rest of the object" (refunds) rather than all of it.</summary>
    public bool AmountDefaultsToRemainder { get; init; }

    /// <summary>
    /// The response field that holds what really moved, such as <c>amount_captured</c>; <see langword="null"/>
    /// when the response cannot tell this call's share (legacy endpoints answer with the whole charge), and the
    /// estimate is committed instead.
    /// </summary>
    public string? SettleField { get; init; } = "amount";

    /// <summary>
    /// Whether the customer allowlist applies even when no customer is named: moving money from or to a
    /// customer nobody can check is denied rather than allowed.
    /// </summary>
    public bool CustomerScoped { get; init; }

    /// <summary>A body field that must be <c>true</c> for the call to move money (<c>confirm</c> on payment intent creation).</summary>
    public string? OnlyWhenTrue { get; init; }

    /// <summary>Whether the response's object is remembered so later refunds and captures can refer to it.</summary>
    public bool RemembersResponse { get; init; }

    /// <summary>Whether a successful response gives back money on the referenced object (a refund or reversal).</summary>
    public bool ReturnsMoneyOnReference { get; init; }

    /// <summary>The pattern's path segments; <c>*</c> stands for one id.</summary>
    public string[] Segments => field ??= Pattern.Split('/', StringSplitOptions.RemoveEmptyEntries);

    /// <summary>Whether a POST to these path segments is this endpoint.</summary>
    public bool Matches(IReadOnlyList<string> pathSegments)
    {
        var segments = Segments;
        if (segments.Length != pathSegments.Count)
        {
            return false;
        }

        for (var i = 0; i < segments.Length; i++)
        {
            if (segments[i] != "*" && !string.Equals(segments[i], pathSegments[i], StringComparison.Ordinal))
            {
                return false;
            }
        }

        return true;
    }
}
