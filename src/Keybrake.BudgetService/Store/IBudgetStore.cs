namespace Keybrake.BudgetService.Store;

/// <summary>
/// Where the budget service keeps counters, reservations, revocations, vendor objects and audit records.
/// Every operation is one atomic unit against the store and the service keeps no state of its own, so a
/// store that supports conditional updates across connections (PostgreSQL) can serve several replicas.
/// </summary>
internal partial interface IBudgetStore
{
    /// <summary>Creates or upgrades the schema.</summary>
    Task MigrateAsync(CancellationToken cancellationToken);

    /// <summary>Checks revocation and reserves the estimate against the day and run counters, atomically.</summary>
    ValueTask<AuthorizeOutcome> AuthorizeAsync(AuthorizeCommand command, CancellationToken cancellationToken);

    /// <summary>
    /// Commits or releases pending reservations made for keys <paramref name="mayTouch"/> accepts (a client may settle
    /// only its own keys' reservations), one result per settlement: finished and held ones are skipped, and other keys'
    /// are reported as out of scope without being touched. A commit far above its estimate, or above the key's daily
    /// cap (<paramref name="capsOf"/>), is held for an operator. A commit that takes settled spend past the day's or
    /// the run's cap is settled, and the overrun recorded with the counter and returned.
    /// </summary>
    ValueTask<IReadOnlyList<SettleResult>> SettleAsync(IReadOnlyList<SettleCommand> settlements, Func<string, bool> mayTouch, DateTimeOffset now, Func<string, KeyCaps?> capsOf, CancellationToken cancellationToken);

    /// <summary>The revoked keys among <paramref name="keyIds"/>.</summary>
    ValueTask<IReadOnlySet<string>> GetRevokedAsync(IReadOnlyCollection<string> keyIds, CancellationToken cancellationToken);

    /// <summary>Revokes or restores a key.</summary>
    ValueTask SetRevokedAsync(string keyId, bool revoked, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>An object recorded earlier under this key, or <see langword="null"/>: one key never sees another's objects.</summary>
    ValueTask<StoredObject?> FindObjectAsync(string keyId, string vendor, string objectId, CancellationToken cancellationToken);

    /// <summary>Records or updates objects under a key.</summary>
    ValueTask RememberObjectsAsync(string keyId, string vendor, IReadOnlyList<StoredObject> objects, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>Stores audit records once each, by record id; returns how many were new.</summary>
    ValueTask<int> AppendAuditAsync(IReadOnlyList<StoredAuditRecord> records, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>A key's counters for one day.</summary>
    ValueTask<StoredSpend> GetDaySpendAsync(string keyId, DateOnly day, CancellationToken cancellationToken);

    /// <summary>A key's counters for one run.</summary>
    ValueTask<StoredSpend> GetRunSpendAsync(string keyId, string runId, CancellationToken cancellationToken);

    /// <summary>Reservations still pending or held for an operator, oldest first.</summary>
    ValueTask<IReadOnlyList<StoredReservation>> ListUnsettledAsync(string? keyId, CancellationToken cancellationToken);

    /// <summary>
    /// An operator commits (<paramref name="actualMicroUsd"/>) or releases (<see langword="null"/>) a pending or held
    /// reservation; a commit past a cap (<paramref name="capsOf"/>) records the overrun like any other.
    /// </summary>
    ValueTask<SettleResult> ResolveAsync(string reservationId, long? actualMicroUsd, DateTimeOffset now, Func<string, KeyCaps?> capsOf, CancellationToken cancellationToken);

    /// <summary>Forgets finished reservations older than the idempotency window (and the deferrals that named them); pending ones are never forgotten.</summary>
    ValueTask<int> PruneFinishedAsync(DateTimeOffset finishedBefore, CancellationToken cancellationToken);

    /// <summary>
    /// Forgets, in small batches, what no call needs any more: audit records of calls before
    /// <see cref="RecordCutoffs.AuditBefore"/> (when audit has a retention), vendor objects not seen since
    /// <see cref="RecordCutoffs.ObjectsBefore"/>, and duty claims that expired before <see cref="RecordCutoffs.Now"/>.
    /// </summary>
    ValueTask<PrunedRecords> PruneRecordsAsync(RecordCutoffs cutoffs, CancellationToken cancellationToken);

    /// <summary>
    /// Records deferrals, one result per deferral: <see langword="true"/> when stored. A deferral is stored only when
    /// its reservation is a pending one of its key, and only the first for an object.
    /// </summary>
    ValueTask<IReadOnlyList<bool>> RecordDeferralsAsync(IReadOnlyList<DeferralCommand> deferrals, string clientId, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>
    /// Settles the reservations that deferred objects name, as <see cref="SettleAsync"/> would settle them by id: an
    /// object no deferral of that key names is <see cref="SettleStatus.NotPending"/>; a settled one changes nothing.
    /// </summary>
    ValueTask<IReadOnlyList<SettleResult>> SettleObjectsAsync(IReadOnlyList<ObjectSettleCommand> settlements, Func<string, bool> mayTouch, DateTimeOffset now, Func<string, KeyCaps?> capsOf, CancellationToken cancellationToken);

    /// <summary>A key's deferred objects whose reservation is still pending, deferred at or before <paramref name="deferredBefore"/>, oldest first.</summary>
    ValueTask<IReadOnlyList<StoredDeferral>> ListDeferredAsync(string keyId, string vendor, DateTimeOffset deferredBefore, int limit, CancellationToken cancellationToken);

    /// <summary>Claims (or renews, or with a zero TTL gives up) a duty of one process per key; returns who holds it now.</summary>
    ValueTask<DutyClaim> ClaimDutyAsync(string keyId, string duty, string holder, DateTimeOffset now, TimeSpan ttl, CancellationToken cancellationToken);

    /// <summary>Asks the database one trivial query, for the readiness check; throws when it does not answer.</summary>
    ValueTask PingAsync(CancellationToken cancellationToken);
}

/// <summary>What <see cref="IBudgetStore.PruneRecordsAsync"/> forgets: <see cref="AuditBefore"/> null keeps every audit record.</summary>
internal sealed record RecordCutoffs(DateTimeOffset Now, DateTimeOffset? AuditBefore, DateTimeOffset ObjectsBefore);

/// <summary>How many rows of each kind pruning forgot.</summary>
internal sealed record PrunedRecords(int AuditRecords, int VendorObjects, int DutyClaims)
{
    public int Total => AuditRecords + VendorObjects + DutyClaims;
}

/// <summary>A reservation that settles when the object is priced.</summary>
internal sealed record DeferralCommand(string KeyId, string Vendor, string ObjectId, string ReservationId, string Refetch);

/// <summary>An object's price, as a response reported it: commit it, or release.</summary>
internal sealed record ObjectSettleCommand(string KeyId, string Vendor, string ObjectId, bool Commit, long ActualMicroUsd);

/// <summary>A deferred object whose reservation waits for its price.</summary>
internal sealed record StoredDeferral(string ObjectId, string ReservationId, long EstimateMicroUsd, string Refetch, DateTimeOffset DeferredAt);

/// <summary>Who holds a duty, until when.</summary>
internal sealed record DutyClaim(string Holder, DateTimeOffset ExpiresAt);

/// <summary>
/// One authorization, with the caps the service's policy sets for the key. <paramref name="RunCapIncludesLlm"/>: the run
/// cap also counts the LLM spend reported for the run (llm_run_total), read only then.
/// </summary>
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
    DateTimeOffset Now,
    bool RunCapIncludesLlm = false);

/// <summary>The store's answer to an authorization.</summary>
internal sealed record AuthorizeOutcome(AuthorizeStatus Status, string? ReservationId, long DaySpentMicroUsd, long RunSpentMicroUsd)
{
    /// <summary>
    /// The run's LLM spend the decision counted (only when the key's run cap includes it; else 0): on a reservation, with
    /// <see cref="RunSpentMicroUsd"/> (the key's run counter after it), what held the call within the cap.
    /// </summary>
    public long LlmSpentMicroUsd { get; init; }

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
internal sealed record StoredAuditRecord(string RecordId, DateTimeOffset Timestamp, string KeyId, string Vendor, string? RunId, string Decision, string? Reason, string Json, string ClientId, string? Host = null);

/// <summary>Counters, with how far settlements took the settled spend past the cap in force when they were committed.</summary>
internal sealed record StoredSpend(long SettledMicroUsd, long ReservedMicroUsd, long OverrunMicroUsd = 0);

/// <summary>The caps a key's policy sets now, for settlements to hold or record overruns against.</summary>
internal readonly record struct KeyCaps(long DailyMicroUsd, long? RunMicroUsd);

/// <summary>
/// A settlement that took settled spend past a cap: <paramref name="Scope"/> is <c>daily</c> (the window a day) or
/// <c>run</c> (the window a run id); <paramref name="AddedMicroUsd"/> is how much this settlement added to the overrun.
/// </summary>
internal sealed record SpendOverrun(string KeyId, string Scope, string Window, long CapMicroUsd, long SettledMicroUsd, long OverrunMicroUsd, long AddedMicroUsd);

/// <summary>A reservation not yet finished; a held one carries the amount its commit claimed.</summary>
internal sealed record StoredReservation(string ReservationId, string KeyId, string? RunId, string IdempotencyKey, long EstimateMicroUsd, DateOnly Day, DateTimeOffset CreatedAt, long? HeldActualMicroUsd = null);

/// <summary>What one settlement did.</summary>
internal enum SettleStatus
{
    /// <summary>No reservation by that id waits for this caller (unknown, finished, or held for an operator).</summary>
    NotPending,

    /// <summary>Committed or released; the counters moved.</summary>
    Settled,

    /// <summary>A commit the service does not trust: kept unsettled for an operator, still counting its estimate.</summary>
    Held,

    /// <summary>An operator's commit that would take a counter past its bound; nothing changed.</summary>
    TooLarge,

    /// <summary>The reservation was made for a key outside the caller's scope; nothing changed.</summary>
    OutOfScope,
}

/// <summary>One settlement's result, with the reservation's key and estimate when it was found.</summary>
internal readonly record struct SettleResult(SettleStatus Status, string? KeyId, long EstimateMicroUsd)
{
    /// <summary>The caps this settlement took settled spend past (day, run, or both); <see langword="null"/> when none.</summary>
    public IReadOnlyList<SpendOverrun>? Overruns { get; init; }
}
