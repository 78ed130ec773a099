namespace Keybrake.BudgetService.Store;

/// <summary>
/// Budget leases (budget.proto, rpc Lease): a lease's outstanding amount (granted - used, while active) counts in the
/// day (and run) counters' reserved, and in their leased too, so that every cap check stays exact with no change.
/// Every operation is one transaction.
/// </summary>
internal partial interface IBudgetStore
{
    /// <summary>
    /// Takes or tops up a lease, sizing the grant inside the transaction from the counters as they are (a fair share of
    /// what is left above the tail among the key's holders). Idempotent by (lease id, sequence).
    /// </summary>
    ValueTask<LeaseGrant> GrantLeaseAsync(LeaseCommand command, CancellationToken cancellationToken);

    /// <summary>
    /// Records calls decided on leases, one result per call (<see langword="true"/> when stored): each becomes a pending
    /// reservation naming its lease, its estimate moved from the lease (what the lease no longer covers is added to
    /// reserved). Idempotent by reservation id; a call on a lease of another credential, or of another key, is not stored.
    /// </summary>
    ValueTask<IReadOnlyList<bool>> RecordLeasedCallsAsync(IReadOnlyList<LeasedCallCommand> calls, string clientId, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>Ends the credential's active leases among <paramref name="leaseIds"/> as returned; returns those it ended.</summary>
    ValueTask<IReadOnlyList<EndedLease>> ReturnLeasesAsync(IReadOnlyList<string> leaseIds, string clientId, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>Ends active leases whose expiry (their TTL, or their day's end) is at or before <paramref name="now"/>; returns those it ended.</summary>
    ValueTask<IReadOnlyList<EndedLease>> ExpireLeasesAsync(DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>Voids every active lease of a key (a revocation); returns those it ended.</summary>
    ValueTask<IReadOnlyList<EndedLease>> VoidLeasesAsync(string keyId, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>Voids every active lease taken by a client credential, whatever its key (the credential's revocation); returns those it ended.</summary>
    ValueTask<IReadOnlyList<EndedLease>> VoidClientLeasesAsync(string clientId, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>Marks (or, with <paramref name="gone"/> false, clears) the active leases of a holder whose key event stream ended.</summary>
    ValueTask<int> MarkHolderGoneAsync(string holder, bool gone, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>Leases, newest first: active ones, and with <paramref name="includeEnded"/> ended ones too.</summary>
    ValueTask<IReadOnlyList<StoredLease>> ListLeasesAsync(string? keyId, bool includeEnded, int limit, CancellationToken cancellationToken);

    /// <summary>What active leases hold, by key: outstanding, and of that what stranded ones hold.</summary>
    ValueTask<IReadOnlyDictionary<string, LeaseTotals>> GetLeaseTotalsAsync(CancellationToken cancellationToken);

    /// <summary>Whether an active lease of the key (of <paramref name="runId"/> only, when given) still holds outstanding budget.</summary>
    ValueTask<bool> HasOutstandingLeasesAsync(string keyId, string? runId, CancellationToken cancellationToken);
}

/// <summary>
/// A request for a lease, with what the service's policy says: the cap and slice bound, the TTL, and when the day ends.
/// <paramref name="RunCapIncludesLlm"/>: the run's LLM spend counts against its cap too.
/// </summary>
internal sealed record LeaseCommand(
    string LeaseId,
    long Sequence,
    string KeyId,
    string? RunId,
    string ClientId,
    string Holder,
    string HolderName,
    long RequestedMicroUsd,
    DateOnly Day,
    long DailyCapMicroUsd,
    long? RunCapMicroUsd,
    bool RunCapIncludesLlm,
    long MaxSliceMicroUsd,
    TimeSpan Ttl,
    DateTimeOffset DayEnd,
    DateTimeOffset Now);

/// <summary>The answer to a lease request; <see cref="Reason"/> says why nothing was granted.</summary>
internal sealed record LeaseGrant(bool Granted, long AmountMicroUsd, DateTimeOffset ExpiresAt, string Reason)
{
    public static LeaseGrant Refused(string reason) => new(false, 0, DateTimeOffset.UnixEpoch, reason);
}

/// <summary>Why a lease request granted nothing (budget.proto, LeaseReply.reason).</summary>
internal static class LeaseReasons
{
    public const string NotLeasing = "not_leasing";
    public const string NearCap = "near_cap";
    public const string Revoked = "revoked";
    public const string Ended = "ended";
    public const string NoStream = "no_stream";
}

/// <summary>One call a process decided on its lease.</summary>
internal sealed record LeasedCallCommand(string LeaseId, string ReservationId, string KeyId, string? RunId, string IdempotencyKey, UInt128 RequestHash, long EstimateMicroUsd, DateTimeOffset DecidedAt);

/// <summary>A lease that ended now, with what it still held (now free again).</summary>
internal sealed record EndedLease(string LeaseId, string KeyId, string? RunId, long FreedMicroUsd);

/// <summary>The states a lease is stored in.</summary>
internal enum LeaseState
{
    Active = 0,
    Returned = 1,
    Expired = 2,
    Voided = 3,
}

/// <summary>A lease as stored; <see cref="HolderGoneAt"/> set while its holder's stream is gone (stranded while active).</summary>
internal sealed record StoredLease(
    string LeaseId,
    string KeyId,
    string? RunId,
    string Day,
    string ClientId,
    string Holder,
    string HolderName,
    long GrantedMicroUsd,
    long UsedMicroUsd,
    LeaseState State,
    DateTimeOffset GrantedAt,
    DateTimeOffset ExpiresAt,
    DateTimeOffset? EndedAt,
    DateTimeOffset? HolderGoneAt)
{
    public long OutstandingMicroUsd => State == LeaseState.Active ? Math.Max(0, GrantedMicroUsd - UsedMicroUsd) : 0;

    public bool Stranded => State == LeaseState.Active && HolderGoneAt is not null;
}

/// <summary>What a key's active leases hold.</summary>
internal readonly record struct LeaseTotals(long OutstandingMicroUsd, long StrandedMicroUsd);

/// <summary>The sizing rule (the same on every engine): a fair share of what is left above the tail, call by call below it.</summary>
internal static class LeaseSizing
{
    /// <summary>
    /// The grant for one request: <c>min(requested, room on this lease, (available - tail) / holders)</c>, where the
    /// tail, <c>min(cap, max slice x holders)</c>, is the part of the budget that goes call by call; 0 when nothing fits.
    /// </summary>
    public static long Grant(long requested, long maxSlice, long heldOnThisLease, long cap, long available, int holders)
    {
        holders = Math.Max(1, holders);
        var tail = (long)Math.Min(cap, (decimal)maxSlice * holders);
        var above = available - tail;
        if (above <= 0)
        {
            return 0;
        }

        return Math.Max(0, Math.Min(Math.Min(requested, maxSlice - heldOnThisLease), above / holders));
    }
}
