namespace Keybrake.Client;

/// <summary>
/// Reservations left open because the vendor prices the object later (a Twilio message), by vendor and object
/// id, so that a later response reporting the price settles the right reservation. The map lives in the guard's
/// process for both ledgers. In central mode the budget service also keeps every deferral
/// (<see cref="IBudgetLedger.RecordDeferralAsync"/>), so a price this process does not hold here (another process
/// deferred it, or this one before a restart, or it forgot it past <see cref="MaxOpen"/>) settles at the service by
/// object. In embedded mode what this process forgets stays counted at its estimate until an operator resolves it,
/// which is the safe side.
/// </summary>
internal sealed class DeferredReservations
{
    /// <summary>The most open objects remembered; past it the oldest are forgotten (and stay counted at their estimate).</summary>
    internal const int MaxOpen = 100_000;

    private readonly Lock _gate = new();
    private readonly Dictionary<(string Vendor, string ObjectId), Entry> _open = [];
    private readonly Queue<(string Vendor, string ObjectId, string ReservationId)> _order = new();

    /// <summary>How many reservations wait for their price.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _open.Count;
            }
        }
    }

    /// <summary>Remembers that <paramref name="reservationId"/> settles when <paramref name="objectId"/> is priced.</summary>
    public void Add(string vendor, string objectId, string reservationId, string keyId, Usd estimate)
    {
        lock (_gate)
        {
            _open[(vendor, objectId)] = new Entry(reservationId, keyId, estimate);
            _order.Enqueue((vendor, objectId, reservationId));
            while (_open.Count > MaxOpen && _order.TryDequeue(out var oldest))
            {
                if (_open.TryGetValue((oldest.Vendor, oldest.ObjectId), out var entry) && entry.ReservationId == oldest.ReservationId)
                {
                    _open.Remove((oldest.Vendor, oldest.ObjectId));
                }
            }

            // Entries settled since they were queued leave stale queue items behind; drop them once they dominate.
            if (_order.Count > 2 * (_open.Count + 1024))
            {
                var live = _order.Where(item => _open.TryGetValue((item.Vendor, item.ObjectId), out var entry) && entry.ReservationId == item.ReservationId).ToList();
                _order.Clear();
                foreach (var item in live)
                {
                    _order.Enqueue(item);
                }
            }
        }
    }

    /// <summary>Takes the open reservation for the object, so it is settled once only.</summary>
    public bool TryTake(string vendor, string objectId, out Entry entry)
    {
        lock (_gate)
        {
            return _open.Remove((vendor, objectId), out entry);
        }
    }

    /// <summary>One open reservation.</summary>
    internal readonly record struct Entry(string ReservationId, string KeyId, Usd Estimate);
}
