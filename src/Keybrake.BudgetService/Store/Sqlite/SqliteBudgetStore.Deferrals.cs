namespace Keybrake.BudgetService.Store.Sqlite;

/// <summary>Deferred objects and duty claims: the rarer operations, as one-off statements on the worker.</summary>
internal sealed partial class SqliteBudgetStore
{
    public ValueTask<IReadOnlyList<bool>> RecordDeferralsAsync(IReadOnlyList<DeferralCommand> deferrals, string clientId, DateTimeOffset now, CancellationToken cancellationToken) =>
        new(Worker.RunAsync<IReadOnlyList<bool>>(
            c =>
            {
                var stored = new List<bool>(deferrals.Count);
                foreach (var deferral in deferrals)
                {
                    // Only a pending reservation of the same key: no client maps an object to another key's reservation.
                    using var command = c.AdHoc(
                        """
                        INSERT INTO deferred_object (key_id, vendor, object_id, reservation_id, refetch, client_id, created_at)
                        SELECT $key, $vendor, $object, reservation_id, $refetch, $client, $now FROM reservation
                        WHERE reservation_id = $reservation AND key_id = $key AND state = 0
                        ON CONFLICT (key_id, vendor, object_id) DO NOTHING
                        """,
                        ("$key", deferral.KeyId), ("$vendor", deferral.Vendor), ("$object", deferral.ObjectId), ("$reservation", deferral.ReservationId),
                        ("$refetch", deferral.Refetch), ("$client", clientId), ("$now", now.ToUnixTimeMilliseconds()));
                    stored.Add(command.ExecuteNonQuery() == 1);
                }

                return stored;
            },
            cancellationToken));

    public ValueTask<IReadOnlyList<SettleResult>> SettleObjectsAsync(IReadOnlyList<ObjectSettleCommand> settlements, Func<string, bool> mayTouch, DateTimeOffset now, Func<string, KeyCaps?> capsOf, CancellationToken cancellationToken) =>
        new(Worker.RunAsync<IReadOnlyList<SettleResult>>(
            c =>
            {
                var results = new List<SettleResult>(settlements.Count);
                foreach (var settlement in settlements)
                {
                    if (!mayTouch(settlement.KeyId))
                    {
                        results.Add(new SettleResult(SettleStatus.OutOfScope, settlement.KeyId, 0));
                        continue;
                    }

                    using var find = c.AdHoc(
                        "SELECT reservation_id FROM deferred_object WHERE key_id = $key AND vendor = $vendor AND object_id = $object",
                        ("$key", settlement.KeyId), ("$vendor", settlement.Vendor), ("$object", settlement.ObjectId));
                    results.Add(find.ExecuteScalar() is string reservationId
                        ? c.Settle(reservationId, settlement.Commit, settlement.ActualMicroUsd, now, capsOf, byClient: true, mayTouch)
                        : new SettleResult(SettleStatus.NotPending, null, 0));
                }

                return results;
            },
            cancellationToken));

    public ValueTask<IReadOnlyList<StoredDeferral>> ListDeferredAsync(string keyId, string vendor, DateTimeOffset deferredBefore, int limit, CancellationToken cancellationToken) =>
        new(Worker.RunAsync<IReadOnlyList<StoredDeferral>>(
            c =>
            {
                using var command = c.AdHoc(
                    """
                    SELECT d.object_id, d.reservation_id, r.estimate, d.refetch, d.created_at
                    FROM deferred_object d JOIN reservation r ON r.reservation_id = d.reservation_id
                    WHERE d.key_id = $key AND d.vendor = $vendor AND r.state = 0 AND d.created_at <= $before
                    ORDER BY d.created_at, d.object_id LIMIT $limit
                    """,
                    ("$key", keyId), ("$vendor", vendor), ("$before", deferredBefore.ToUnixTimeMilliseconds()), ("$limit", limit));
                using var reader = command.ExecuteReader();
                var list = new List<StoredDeferral>();
                while (reader.Read())
                {
                    list.Add(new StoredDeferral(reader.GetString(0), reader.GetString(1), reader.GetInt64(2), reader.GetString(3), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(4))));
                }

                return list;
            },
            cancellationToken));

    public ValueTask<DutyClaim> ClaimDutyAsync(string keyId, string duty, string holder, DateTimeOffset now, TimeSpan ttl, CancellationToken cancellationToken) =>
        new(Worker.RunAsync(
            c =>
            {
                // Taken over only when expired; renewed (or, with a zero TTL, given up) only by its holder.
                var nowMs = now.ToUnixTimeMilliseconds();
                using (var claim = c.AdHoc(
                    """
                    INSERT INTO duty_claim (key_id, duty, holder, expires_at) VALUES ($key, $duty, $holder, $expires)
                    ON CONFLICT (key_id, duty) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
                    WHERE duty_claim.holder = excluded.holder OR duty_claim.expires_at <= $now
                    """,
                    ("$key", keyId), ("$duty", duty), ("$holder", holder), ("$expires", nowMs + (long)ttl.TotalMilliseconds), ("$now", nowMs)))
                {
                    claim.ExecuteNonQuery();
                }

                using var read = c.AdHoc("SELECT holder, expires_at FROM duty_claim WHERE key_id = $key AND duty = $duty", ("$key", keyId), ("$duty", duty));
                using var reader = read.ExecuteReader();
                reader.Read();
                return new DutyClaim(reader.GetString(0), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(1)));
            },
            cancellationToken));
}
