namespace Keybrake.Client;

/// <summary>
/// The budget the guard reserves against: revocation, atomic reservations on the day and run counters,
/// settlements, and the objects later calls refer to. The embedded ledger implements it in process; the
/// budget-service client implements it over gRPC, so every member is asynchronous and cancellable, and
/// settlements come in batches.
/// </summary>
/// <remarks>
/// An extension point for ledger packages (Keybrake.Client.Central implements it over gRPC and registers it from
/// <c>UseBudgetService()</c>). Applications use <c>AddKeybrake()</c> and never call or implement it themselves.
/// </remarks>
public interface IBudgetLedger
{
    /// <summary>Whether the key is revoked. Fast: answered from a local view where possible.</summary>
    ValueTask<KeyState> GetKeyStateAsync(string keyId, CancellationToken cancellationToken);

    /// <summary>
    /// The key as its calls must be checked: whether it is revoked and the policy that applies (in central mode
    /// the budget service's, tightened by the process's own), or why the call cannot be checked at all.
    /// </summary>
    ValueTask<KeyResolution> ResolveKeyAsync(ResolvedKey key, string brakeKey, CancellationToken cancellationToken);

    /// <summary>
    /// Checks revocation and reserves the estimate against the key's day counter and the run counter in one
    /// atomic step. Idempotent by (key, idempotency key): a retry gets the same reservation and reserves once.
    /// </summary>
    ValueTask<AuthorizationResult> AuthorizeAsync(AuthorizationRequest request, CancellationToken cancellationToken);

    /// <summary>Commits or releases reservations. Idempotent by reservation id: settling twice changes nothing.</summary>
    ValueTask SettleAsync(IReadOnlyList<Settlement> settlements, CancellationToken cancellationToken);

    /// <summary>An object recorded earlier by a call with this key, or <see langword="null"/>: one key never sees another's.</summary>
    ValueTask<VendorObject?> FindObjectAsync(string keyId, string vendor, string objectId, CancellationToken cancellationToken);

    /// <summary>Records objects (new, or updated: a charge with more refunded) under a key, for its later calls to refer to.</summary>
    ValueTask RememberObjectsAsync(string keyId, string vendor, IReadOnlyList<VendorObject> objects, CancellationToken cancellationToken);

    /// <summary>
    /// Records, where every process of the key finds it, that a reservation settles when the object is priced. The
    /// embedded ledger keeps nothing more: its reservations live in this process only, and so does the guard's map.
    /// </summary>
    ValueTask RecordDeferralAsync(Deferral deferral, CancellationToken cancellationToken);

    /// <summary>
    /// Reports an object's price where deferrals are kept, for a deferral this process does not hold (made by another
    /// process, or before a restart). Settled once; a second report changes nothing. The embedded ledger has none.
    /// </summary>
    ValueTask SettleObjectAsync(ObjectSettlement settlement, CancellationToken cancellationToken);
}

/// <summary>A reservation that settles when the vendor prices the object.</summary>
/// <param name="KeyId">The key the object was created with.</param>
/// <param name="Vendor">The vendor of the object.</param>
/// <param name="ObjectId">The vendor's id of the object.</param>
/// <param name="ReservationId">The reservation the price settles.</param>
/// <param name="Refetch">What the vendor package recorded to fetch the object again, if anything.</param>
public readonly record struct Deferral(string KeyId, string Vendor, string ObjectId, string ReservationId, string? Refetch);

/// <summary>An object's price as a response reported it: commit <paramref name="Actual"/>, or release.</summary>
/// <param name="KeyId">The key the object was created with.</param>
/// <param name="Vendor">The vendor of the object.</param>
/// <param name="ObjectId">The vendor's id of the object.</param>
/// <param name="Kind">Commit or release.</param>
/// <param name="Actual">The price, for a commit.</param>
public readonly record struct ObjectSettlement(string KeyId, string Vendor, string ObjectId, SettlementKind Kind, Usd Actual);

/// <summary>A key ready for the checks: its state, the key with the policy that applies, or a denial before any check.</summary>
/// <param name="State">Whether the key is revoked, as far as the ledger knows.</param>
/// <param name="Key">The key with the policy that applies.</param>
/// <param name="Denial">Why the call cannot be checked at all; <see langword="null"/> when it can.</param>
public readonly record struct KeyResolution(KeyState State, ResolvedKey Key, GuardDenial? Denial);

/// <summary>A request to reserve budget for one call.</summary>
/// <param name="KeyId">The key the call uses.</param>
/// <param name="RunId">The agent run, for the per-run cap; <see langword="null"/> outside a run.</param>
/// <param name="IdempotencyKey">Makes retries the same call; <see langword="null"/> when the call has none.</param>
/// <param name="Estimate">What to reserve.</param>
/// <param name="RequestHash">A hash of the request, to catch an idempotency key reused for a different request.</param>
public readonly record struct AuthorizationRequest(string KeyId, string? RunId, string? IdempotencyKey, Usd Estimate, UInt128 RequestHash)
{
    /// <summary>The version of the budget service's secret the call will carry (<see cref="ResolvedKey.SecretVersion"/>); 0 for the process's own.</summary>
    public long SecretVersion { get; init; }
}

/// <summary>How an authorization relates to an earlier call with the same idempotency key.</summary>
public enum ReservationReuse
{
    /// <summary>A new reservation was made.</summary>
    None,

    /// <summary>A retry of a call whose reservation is still pending (in flight, or held after an unknown outcome).</summary>
    Pending,

    /// <summary>A retry of a call already settled: the vendor replays it and no new money moves.</summary>
    Settled,
}

/// <summary>The ledger's answer to an authorization.</summary>
public sealed class AuthorizationResult
{
    private AuthorizationResult(string? reservationId, GuardDenial? denial, ReservationReuse reuse, string? note = null)
    {
        ReservationId = reservationId;
        Denial = denial;
        Reuse = reuse;
        Note = note;
    }

    /// <summary>The reservation to settle; <see langword="null"/> when denied, and for the replay of a call already settled.</summary>
    public string? ReservationId { get; }

    /// <summary>Why the call was denied; <see langword="null"/> when allowed.</summary>
    public GuardDenial? Denial { get; }

    /// <summary>Whether the call reused the reservation of an earlier call with the same idempotency key.</summary>
    public ReservationReuse Reuse { get; }

    /// <summary>What the call's audit record must say about how it was allowed, if anything.</summary>
    public string? Note { get; }

    /// <summary>An allowed call: the reservation to settle, how it relates to an earlier call, and a note for its audit record.</summary>
    public static AuthorizationResult Allowed(string? reservationId, ReservationReuse reuse, string? note = null) => new(reservationId, null, reuse, note);

    /// <summary>A denied call, with its reason code and message.</summary>
    public static AuthorizationResult Denied(string reason, string message) => new(null, new GuardDenial(reason, message), ReservationReuse.None);
}

/// <summary>What to do with a reservation.</summary>
/// <param name="ReservationId">The reservation.</param>
/// <param name="Kind">Commit or release (a hold is simply not settled).</param>
/// <param name="Actual">The real cost, for a commit.</param>
public readonly record struct Settlement(string ReservationId, SettlementKind Kind, Usd Actual);

/// <summary>What the ledger knows of a key's revocation.</summary>
public enum KeyState
{
    /// <summary>Not revoked.</summary>
    Active,

    /// <summary>Revoked: every call is denied.</summary>
    Revoked,

    /// <summary>The budget service could not be asked; the key's policy decides what reads do.</summary>
    Unknown,
}
