namespace Keybrake.Client;

/// <summary>A later response's report of what a deferred object cost (see <see cref="VendorCall.SettleDeferred"/>).</summary>
/// <param name="ObjectId">The vendor's id of the object.</param>
/// <param name="Actual">What it cost; <see langword="null"/> to release the reservation.</param>
internal readonly record struct DeferredSettlement(string ObjectId, Usd? Actual);
