namespace Keybrake.Client.Central;

/// <summary>
/// The opt-in allowance a process may spend on its own while the budget service cannot be reached: itself a
/// cap, for the process's lifetime, across all keys. Empty means none: cost-bearing calls fail closed.
/// </summary>
internal sealed class EmergencyAllowance
{
    public const string ReservationPrefix = "emr_";

    private readonly Lock _gate = new();
    private readonly long _capMicros;
    private readonly IdGenerator _ids;
    private readonly Dictionary<string, long> _pending = new(StringComparer.Ordinal);
    private long _committedMicros;

    public EmergencyAllowance(Usd? cap, IdGenerator ids)
    {
        _capMicros = cap?.Micros ?? 0;
        _ids = ids;
        IsEnabled = cap is { Micros: > 0 };
    }

    public bool IsEnabled { get; }

    /// <summary>Reserves the estimate from the allowance; returns the local reservation id, or null when it does not fit.</summary>
    public string? TryReserve(Usd estimate)
    {
        if (!IsEnabled)
        {
            return null;
        }

        lock (_gate)
        {
            var used = _committedMicros + _pending.Values.Sum();
            if (estimate.Micros > _capMicros - used)
            {
                return null;
            }

            var id = _ids.New(ReservationPrefix);
            _pending.Add(id, estimate.Micros);
            return id;
        }
    }

    /// <summary>Settles a local reservation; false when the id is not one of this allowance's.</summary>
    public bool TrySettle(Settlement settlement)
    {
        if (!settlement.ReservationId.StartsWith(ReservationPrefix, StringComparison.Ordinal))
        {
            return false;
        }

        lock (_gate)
        {
            if (_pending.Remove(settlement.ReservationId) && settlement.Kind == SettlementKind.Commit)
            {
                _committedMicros += Math.Max(0, settlement.Actual.Micros);
            }
        }

        return true;
    }
}
