namespace Keybrake.Client;

/// <summary>What happens to a call's reservation once the vendor has answered.</summary>
public enum SettlementKind
{
    /// <summary>The money moved: the reservation becomes spend of the given amount.</summary>
    Commit,

    /// <summary>The vendor refused the call and no money moved: the reservation is released.</summary>
    Release,

    /// <summary>
    /// The outcome is unknown (a 5xx, a timeout, a conflict): the reservation keeps counting as spent until a
    /// retry with the same idempotency key settles it or an operator resolves it.
    /// </summary>
    Hold,
}

/// <summary>A vendor profile's verdict on a response: commit an amount, release, or hold.</summary>
/// <param name="Kind">What to do with the reservation.</param>
/// <param name="Actual">The real cost, for <see cref="SettlementKind.Commit"/>.</param>
public readonly record struct VendorSettlement(SettlementKind Kind, Usd Actual)
{
    /// <summary>
    /// For a <see cref="SettlementKind.Hold"/> made by <see cref="Defer(string)"/>: the vendor object whose cost a later
    /// response will report. <see langword="null"/> for every other settlement.
    /// </summary>
    public string? DeferredObjectId { get; init; }

    /// <summary>The money moved and cost <paramref name="actual"/>.</summary>
    public static VendorSettlement Commit(Usd actual) => new(SettlementKind.Commit, actual);

    /// <summary>No money moved.</summary>
    public static VendorSettlement Release { get; } = new(SettlementKind.Release, Usd.Zero);

    /// <summary>Nobody knows yet whether money moved.</summary>
    public static VendorSettlement Hold { get; } = new(SettlementKind.Hold, Usd.Zero);

    /// <summary>
    /// The vendor acted but prices the object later (a Twilio message's <c>price</c> is null when it is
    /// created): the reservation stays open at the estimate until a later response that passes the guard
    /// reports the object's cost through <see cref="VendorCall.SettleDeferred"/>.
    /// </summary>
    /// <param name="objectId">The vendor's id of the object, such as <c>SM...</c>.</param>
    public static VendorSettlement Defer(string objectId) => Defer(objectId, refetch: null);

    /// <summary>
    /// As <see cref="Defer(string)"/>, with what the vendor package needs to fetch the object again: in central mode
    /// the budget service keeps it with the deferral, so that the process elected to reconcile the key's prices can
    /// ask for the object even when the process that created it has gone.
    /// </summary>
    /// <param name="objectId">The vendor's id of the object, such as <c>SM...</c>.</param>
    /// <param name="refetch">Vendor-defined (Twilio: the Basic-auth user name and the resource URL); never a secret. At most 2,048 characters.</param>
    public static VendorSettlement Defer(string objectId, string? refetch)
    {
        ArgumentException.ThrowIfNullOrEmpty(objectId);
        return new(SettlementKind.Hold, Usd.Zero) { DeferredObjectId = objectId, Refetch = refetch };
    }

    /// <summary>For a <see cref="Defer(string, string)"/>: how to fetch the object again, or <see langword="null"/>.</summary>
    public string? Refetch { get; init; }
}
