namespace Keybrake.BudgetService.Store;

/// <summary>
/// Where the budget service keeps counters, reservations, revocations, vendor objects and audit records.
/// Every operation is one atomic unit against the store and the service keeps no state of its own, so a
/// store that supports conditional updates across connections (PostgreSQL) can serve several replicas.
/// </summary>
internal interface IBudgetStore
{
    /// <summary>Creates or upgrades the schema.</summary>
    Task MigrateAsync(CancellationToken cancellationToken);

    /// <summary>Checks revocation and reserves the estimate against the day and run counters, atomically.</summary>
    ValueTask<AuthorizeOutcome> AuthorizeAsync(AuthorizeCommand command, CancellationToken cancellationToken);

    /// <summary>Commits or releases pending reservations; returns how many changed (settled ones are skipped).</summary>
    ValueTask<int> SettleAsync(IReadOnlyList<SettleCommand> settlements, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>The revoked keys among <paramref name="keyIds"/>.</summary>
    ValueTask<IReadOnlySet<string>> GetRevokedAsync(IReadOnlyCollection<string> keyIds, CancellationToken cancellationToken);

    /// <summary>Revokes or restores a key.</summary>
    ValueTask SetRevokedAsync(string keyId, bool revoked, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>An object recorded earlier, or <see langword="null"/>.</summary>
    ValueTask<StoredObject?> FindObjectAsync(string vendor, string objectId, CancellationToken cancellationToken);

    /// <summary>Records or updates objects.</summary>
    ValueTask RememberObjectsAsync(string vendor, IReadOnlyList<StoredObject> objects, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>Stores audit records once each, by record id; returns how many were new.</summary>
    ValueTask<int> AppendAuditAsync(IReadOnlyList<StoredAuditRecord> records, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>A key's counters for one day.</summary>
    ValueTask<StoredSpend> GetDaySpendAsync(string keyId, DateOnly day, CancellationToken cancellationToken);

    /// <summary>A key's counters for one run.</summary>
    ValueTask<StoredSpend> GetRunSpendAsync(string keyId, string runId, CancellationToken cancellationToken);

    /// <summary>Reservations still pending, oldest first.</summary>
    ValueTask<IReadOnlyList<StoredReservation>> ListUnsettledAsync(string? keyId, CancellationToken cancellationToken);

    /// <summary>Commits (<paramref name="actualMicroUsd"/>) or releases (<see langword="null"/>) a pending reservation; false when none is pending.</summary>
    ValueTask<bool> ResolveAsync(string reservationId, long? actualMicroUsd, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>Forgets finished reservations older than the idempotency window; pending ones are never forgotten.</summary>
    ValueTask<int> PruneFinishedAsync(DateTimeOffset finishedBefore, CancellationToken cancellationToken);
}

/// <summary>One authorization, with the caps the service's policy sets for the key.</summary>
internal sealed record AuthorizeCommand(
    string KeyId,
    string? RunId,
    string IdempotencyKey,
    UInt128 RequestHash,
    long EstimateMicroUsd,
    DateOnly Day,
    long DailyCapMicroUsd,
    long? RunCapMicroUsd,
    string ReservationId,
    DateTimeOffset Now);

/// <summary>The store's answer to an authorization.</summary>
internal sealed record AuthorizeOutcome(AuthorizeStatus Status, string? ReservationId, long DaySpentMicroUsd, long RunSpentMicroUsd)
{
    public bool Allowed => Status is AuthorizeStatus.Reserved or AuthorizeStatus.ReusedPending or AuthorizeStatus.ReusedSettled;
}

/// <summary>What an authorization did.</summary>
internal enum AuthorizeStatus
{
    Reserved,
    ReusedPending,
    ReusedSettled,
    Revoked,
    DailyCapExceeded,
    RunCapExceeded,
    IdempotencyKeyReused,
}

/// <summary>Commit an actual cost, or release.</summary>
internal sealed record SettleCommand(string ReservationId, bool Commit, long ActualMicroUsd);

/// <summary>A vendor object as stored.</summary>
internal sealed record StoredObject(string Id, string Kind, string? Customer, string? Account, string? Currency, long Amount, long AmountReturned);

/// <summary>An audit record as stored: the searchable columns, and the whole record as JSON.</summary>
internal sealed record StoredAuditRecord(string RecordId, DateTimeOffset Timestamp, string KeyId, string Vendor, string? RunId, string Decision, string? Reason, string Json, string? Host = null);

/// <summary>Counters.</summary>
internal sealed record StoredSpend(long SettledMicroUsd, long ReservedMicroUsd);

/// <summary>A pending reservation.</summary>
internal sealed record StoredReservation(string ReservationId, string KeyId, string? RunId, string IdempotencyKey, long EstimateMicroUsd, DateOnly Day, DateTimeOffset CreatedAt);
