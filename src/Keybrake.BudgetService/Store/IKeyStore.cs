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

    /// <summary>
    /// Stores a key's first vendor secret (<see cref="SealedSecret.Version"/> 1), conditionally: nothing changes when
    /// the key has a secret already (<see cref="SecretWriteStatus.Conflict"/>) or does not exist.
    /// </summary>
    ValueTask<SecretWrite> SetFirstSecretAsync(string keyId, SealedSecret secret, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>
    /// Replaces a key's secret with <paramref name="secret"/>, whose version must be one past the current one
    /// (<see cref="SecretWriteStatus.Conflict"/> otherwise, and when the key has none). The replaced secret is kept until
    /// <paramref name="previousValidUntil"/>, or erased now when that is <see langword="null"/>; an older one is erased.
    /// </summary>
    ValueTask<SecretWrite> RotateSecretAsync(string keyId, SealedSecret secret, DateTimeOffset? previousValidUntil, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>A key's current secret, then the previous one if its overlap window is still open at <paramref name="now"/>; empty when it has none.</summary>
    ValueTask<IReadOnlyList<StoredSecret>> ReadSecretsAsync(string keyId, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>Erases previous secrets whose overlap window closed at or before <paramref name="now"/>; returns how many.</summary>
    ValueTask<int> PruneExpiredSecretsAsync(DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>The ids of the master keys the stored secrets were sealed under.</summary>
    ValueTask<IReadOnlyList<string>> ListMasterKeyIdsAsync(CancellationToken cancellationToken);
}

/// <summary>A vendor secret as the vault sealed it: never the plaintext.</summary>
internal sealed record SealedSecret(long Version, string MasterKeyId, byte[] Sealed);

/// <summary>A stored secret; <see cref="ValidUntil"/> is <see langword="null"/> for the current one.</summary>
internal sealed record StoredSecret(long Version, string MasterKeyId, byte[] Sealed, DateTimeOffset SetAt, DateTimeOffset? ValidUntil);

/// <summary>How a secret write went: with the key read back when it was written.</summary>
internal sealed record SecretWrite(SecretWriteStatus Status, StoredKey? Key);

/// <summary>The outcome of a conditional secret write.</summary>
internal enum SecretWriteStatus
{
    Written,

    /// <summary>No such key.</summary>
    NoKey,

    /// <summary>The key's secret is not in the state the write expects (one exists, none exists, or another write came first).</summary>
    Conflict,
}

/// <summary>
/// A key as stored: its policy as the serialized <c>Policy</c> message; the version of the vendor secret the service
/// holds for it (0: none), when that was set, and until when the previous one stays valid (never the secret).
/// </summary>
internal sealed record StoredKey(
    string KeyId,
    string Vendor,
    byte[] Policy,
    long PolicyVersion,
    byte[]? BrakeKeySha256,
    KeySource Source,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    long SecretVersion = 0,
    DateTimeOffset? SecretSetAt = null,
    DateTimeOffset? PreviousSecretValidUntil = null);

/// <summary>Where a key came from.</summary>
internal enum KeySource
{
    /// <summary>The service's configuration (imported on first start).</summary>
    Configuration,

    /// <summary>The admin API, which issued its brake key.</summary>
    Admin,
}
