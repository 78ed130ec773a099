namespace Keybrake.BudgetService.Store;

/// <summary>
/// The keys the service holds and their policies. Writes are rare (operator actions) and conditional, so a
/// store shared by several replicas stays consistent; revocation lives in <see cref="IBudgetStore"/>, next to
/// the counters, because <c>Authorize</c> checks it in the same transaction as the reservation.
/// </summary>
internal interface IKeyStore
{
    /// <summary>Every key.</summary>
    ValueTask<IReadOnlyList<StoredKey>> ListAsync(CancellationToken cancellationToken);

    /// <summary>One key, or <see langword="null"/>.</summary>
    ValueTask<StoredKey?> FindAsync(string keyId, CancellationToken cancellationToken);

    /// <summary>Adds a key; <see langword="false"/> when one with that id exists (nothing changes).</summary>
    ValueTask<bool> TryInsertAsync(StoredKey key, CancellationToken cancellationToken);

    /// <summary>
    /// Replaces a key's policy, bumps its version and records who owns it now; the stored key, or
    /// <see langword="null"/> when there is none.
    /// </summary>
    ValueTask<StoredKey?> UpdatePolicyAsync(string keyId, byte[] policy, KeySource source, DateTimeOffset now, CancellationToken cancellationToken);
}

/// <summary>A key as stored: its policy as the serialized <c>Policy</c> message.</summary>
internal sealed record StoredKey(
    string KeyId,
    string Vendor,
    byte[] Policy,
    long PolicyVersion,
    byte[]? BrakeKeySha256,
    KeySource Source,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt);

/// <summary>Where a key came from.</summary>
internal enum KeySource
{
    /// <summary>The service's configuration (imported on first start).</summary>
    Configuration,

    /// <summary>The admin API, which issued its brake key.</summary>
    Admin,
}
