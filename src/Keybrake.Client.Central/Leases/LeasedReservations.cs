using System.Collections.Concurrent;

namespace Keybrake.Client.Central;

/// <summary>
/// The calls decided on this process's leases, by idempotency key and by reservation id, so that a retry is answered
/// as Authorize would answer it (the reservation still pending, or the call settled) and never reserves twice. Kept
/// while the lease is: after it, the service has the calls and Authorize answers retries itself.
/// </summary>
internal sealed class LeasedReservations
{
    private readonly ConcurrentDictionary<(string KeyId, string IdempotencyKey), Entry> _byKey = new();
    private readonly ConcurrentDictionary<string, Entry> _byReservation = new(StringComparer.Ordinal);

    public bool TryGet(string keyId, string idempotencyKey, out Entry entry) => _byKey.TryGetValue((keyId, idempotencyKey), out entry!);

    public void Add(string keyId, string idempotencyKey, string reservationId, UInt128 requestHash, string leaseId)
    {
        var entry = new Entry(keyId, idempotencyKey, reservationId, requestHash, leaseId);
        _byKey[(keyId, idempotencyKey)] = entry;
        _byReservation[reservationId] = entry;
    }

    /// <summary>A leased call settled: a commit makes a retry a replay; a release lets a retry reserve anew.</summary>
    public void Settled(string reservationId, bool committed)
    {
        if (!_byReservation.TryGetValue(reservationId, out var entry))
        {
            return;
        }

        if (committed)
        {
            Volatile.Write(ref entry.State, Entry.Committed);
        }
        else
        {
            Forget(entry);
        }
    }

    /// <summary>The lease ended: its calls' retries go to Authorize, which knows them from the leased calls sent.</summary>
    public void Forget(string keyId, IEnumerable<string> idempotencyKeys)
    {
        foreach (var idempotencyKey in idempotencyKeys)
        {
            if (_byKey.TryGetValue((keyId, idempotencyKey), out var entry))
            {
                Forget(entry);
            }
        }
    }

    private void Forget(Entry entry)
    {
        _byKey.TryRemove(new KeyValuePair<(string, string), Entry>((entry.KeyId, entry.IdempotencyKey), entry));
        _byReservation.TryRemove(new KeyValuePair<string, Entry>(entry.ReservationId, entry));
    }

    internal sealed class Entry(string keyId, string idempotencyKey, string reservationId, UInt128 requestHash, string leaseId)
    {
        public const int Pending = 0;
        public const int Committed = 1;

        public int State;

        public string KeyId { get; } = keyId;

        public string IdempotencyKey { get; } = idempotencyKey;

        public string ReservationId { get; } = reservationId;

        public UInt128 RequestHash { get; } = requestHash;

        public string LeaseId { get; } = leaseId;
    }
}
