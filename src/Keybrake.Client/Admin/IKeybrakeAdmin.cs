namespace Keybrake.Client;

/// <summary>
/// Operator actions on keys and budgets: revoke and restore, spend by day or run, and the reservations no
/// call ever settled. In embedded mode they act on this process's ledger.
/// </summary>
public interface IKeybrakeAdmin
{
    /// <summary>Revokes a key: its next call, read or write, is denied with <c>key_revoked</c>.</summary>
    /// <exception cref="ArgumentException">No key has that id.</exception>
    ValueTask RevokeKeyAsync(string keyId, CancellationToken cancellationToken = default);

    /// <summary>Restores a revoked key.</summary>
    /// <exception cref="ArgumentException">No key has that id.</exception>
    ValueTask RestoreKeyAsync(string keyId, CancellationToken cancellationToken = default);

    /// <summary>A key's spend for one day of its time zone (today when <paramref name="day"/> is empty).</summary>
    /// <exception cref="ArgumentException">No key has that id.</exception>
    ValueTask<SpendReport> GetDailySpendAsync(string keyId, DateOnly? day = null, CancellationToken cancellationToken = default);

    /// <summary>A key's spend within one agent run.</summary>
    /// <exception cref="ArgumentException">No key has that id.</exception>
    ValueTask<SpendReport> GetRunSpendAsync(string keyId, string runId, CancellationToken cancellationToken = default);

    /// <summary>Reservations whose call never settled (a 5xx, a timeout, a process that died): they count as spent.</summary>
    ValueTask<IReadOnlyList<UnsettledReservation>> ListUnsettledAsync(string? keyId = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Resolves an unsettled reservation once the operator knows the outcome: commits <paramref name="actual"/>,
    /// or releases it when <paramref name="actual"/> is empty.
    /// </summary>
    /// <exception cref="ArgumentException">No unsettled reservation has that id.</exception>
    ValueTask ResolveReservationAsync(string reservationId, Usd? actual, CancellationToken cancellationToken = default);
}

/// <summary>Spend against one cap.</summary>
/// <param name="KeyId">The key.</param>
/// <param name="Cap">The cap, or <see langword="null"/> when the policy sets none (run spend without a run cap).</param>
/// <param name="Settled">What calls have really cost.</param>
/// <param name="Reserved">What calls in flight or never settled hold.</param>
public sealed record SpendReport(string KeyId, Usd? Cap, Usd Settled, Usd Reserved)
{
    /// <summary>The day the report covers, for daily spend.</summary>
    public DateOnly? Day { get; init; }

    /// <summary>The run the report covers, for run spend.</summary>
    public string? RunId { get; init; }

    /// <summary>Settled plus reserved: what counts against the cap.</summary>
    public Usd Committed => Settled + Reserved;

    /// <summary>
    /// How far settled spend went past the cap, as recorded when the settlement that pushed it over was committed
    /// (a price that settled above its estimate after the reservation fit the cap); zero when it never did.
    /// Recorded against the cap in force then, so changing the cap later neither invents nor hides an overrun.
    /// </summary>
    public Usd Overrun { get; init; }

    /// <summary>Whether settled spend went past the cap (<see cref="Overrun"/> is above zero).</summary>
    public bool IsOverCap => Overrun > Usd.Zero;

    /// <summary>What is left under the cap (never negative), or <see langword="null"/> without a cap.</summary>
    public Usd? Remaining => Cap is { } cap ? Usd.FromMicros(Math.Max(0, cap.Micros - Committed.Micros)) : null;
}

/// <summary>A reservation no call settled.</summary>
public sealed record UnsettledReservation(
    string ReservationId,
    string KeyId,
    string? RunId,
    string? IdempotencyKey,
    Usd Estimate,
    DateOnly Day,
    DateTimeOffset CreatedAt);
