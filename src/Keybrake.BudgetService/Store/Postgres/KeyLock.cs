namespace Keybrake.BudgetService.Store.Postgres;

/// <summary>
/// A key's revocation lock: every Authorize holds it shared until it commits, a revocation (or restoration) takes it
/// exclusively, so no reservation of a key commits after a revocation of it has returned, whichever replicas they ran on.
/// </summary>
/// <remarks>
/// A transaction-scoped advisory lock rather than a row lock on <c>key_state</c>: PostgreSQL queues advisory lock
/// requests in order, so a revocation waits only for the calls already holding the lock, while new calls wait behind it.
/// With <c>SELECT ... FOR SHARE</c> on the row, each new share locker joins the current holders, and on a busy key a
/// revocation's <c>FOR UPDATE</c> could wait for as long as calls kept coming. The two-integer form of the lock keeps
/// these keys apart from the service's one-number locks (migration, duties); two key ids that hash alike only share a queue.
/// </remarks>
internal static class KeyLock
{
    /// <summary>Held by an Authorize of the key (<c>$1</c>) until its transaction ends.</summary>
    public const string Shared = "SELECT pg_advisory_xact_lock_shared(1801807218, hashtext($1))";

    /// <summary>Held by a revocation or restoration of the key (<c>$1</c>) until its transaction ends.</summary>
    public const string Exclusive = "SELECT pg_advisory_xact_lock(1801807218, hashtext($1))";
}
