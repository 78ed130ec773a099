namespace Keybrake.Client;

/// <summary>
/// Something a vendor created through the guard (a Stripe charge or payment intent, say) that later calls
/// refer to: who it was for and how much it was. The guard uses it to check refunds and captures against
/// the customer allowlist and to estimate a refund that names no amount.
/// </summary>
/// <param name="Id">The vendor's object id, such as <c>ch_...</c>.</param>
/// <param name="Kind">The vendor's object type, such as <c>charge</c>.</param>
public sealed record VendorObject(string Id, string Kind)
{
    /// <summary>The customer the object belongs to, if any.</summary>
    public string? Customer { get; init; }

    /// <summary>The connected account it was made for, if any.</summary>
    public string? Account { get; init; }

    /// <summary>The lower-case ISO currency of <see cref="Amount"/>.</summary>
    public string? Currency { get; init; }

    /// <summary>The amount in the currency's minor units.</summary>
    public long Amount { get; init; }

    /// <summary>How much of <see cref="Amount"/> has already been given back (refunded, reversed), in minor units.</summary>
    public long AmountReturned { get; init; }
}
