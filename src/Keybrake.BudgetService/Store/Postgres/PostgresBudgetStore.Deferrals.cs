using Npgsql;
using static Keybrake.BudgetService.Store.Postgres.PostgresSql;

namespace Keybrake.BudgetService.Store.Postgres;

/// <summary>Deferred objects and duty claims on PostgreSQL, with the semantics of the SQLite store's, across replicas.</summary>
internal sealed partial class PostgresBudgetStore
{
    /// <summary>One transaction, one round trip: each deferral is an insert guarded by its reservation being a pending one of its key.</summary>
    public async ValueTask<IReadOnlyList<bool>> RecordDeferralsAsync(IReadOnlyList<DeferralCommand> deferrals, string clientId, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (deferrals.Count == 0)
        {
            return [];
        }

        return await _database.InTransactionAsync<IReadOnlyList<bool>>(async (connection, transaction) =>
        {
            await using var batch = new NpgsqlBatch(connection, transaction);
            foreach (var deferral in deferrals)
            {
                // Only a pending reservation of the same key: no client maps an object to another key's reservation.
                batch.BatchCommands.Add(BatchCommand(
                    """
                    INSERT INTO deferred_object (key_id, vendor, object_id, reservation_id, refetch, client_id, created_at)
                    SELECT $1, $2, $3, reservation_id, $5, $6, $7 FROM reservation
                    WHERE reservation_id = $4 AND key_id = $1 AND state = 0
                    ON CONFLICT (key_id, vendor, object_id) DO NOTHING
                    """,
                    Text(deferral.KeyId), Text(deferral.Vendor), Text(deferral.ObjectId), Text(deferral.ReservationId), Text(deferral.Refetch), Text(clientId), Millis(now)));
            }

            await batch.ExecuteNonQueryAsync(cancellationToken);
            var stored = new List<bool>(deferrals.Count);
            foreach (var command in batch.BatchCommands)
            {
                stored.Add(command.RecordsAffected == 1);
            }

            return stored;
        }, cancellationToken);
    }

    /// <summary>
    /// Each object settles in a transaction of its own, as <see cref="SettleAsync"/>'s settlements do: the reservation row
    /// is locked before its state is read, so two replicas that see the same price settle it once (the second finds it
    /// finished: <see cref="SettleStatus.NotPending"/>).
    /// </summary>
    public async ValueTask<IReadOnlyList<SettleResult>> SettleObjectsAsync(IReadOnlyList<ObjectSettleCommand> settlements, Func<string, bool> mayTouch, DateTimeOffset now, Func<string, KeyCaps?> capsOf, CancellationToken cancellationToken)
    {
        var results = new List<SettleResult>(settlements.Count);
        foreach (var settlement in settlements)
        {
            if (!mayTouch(settlement.KeyId))
            {
                results.Add(new SettleResult(SettleStatus.OutOfScope, settlement.KeyId, 0));
                continue;
            }

            results.Add(await _database.InTransactionAsync(async (connection, transaction) =>
            {
                string? reservationId;
                await using (var find = Command(connection, transaction,
                    "SELECT reservation_id FROM deferred_object WHERE key_id = $1 AND vendor = $2 AND object_id = $3",
                    Text(settlement.KeyId), Text(settlement.Vendor), Text(settlement.ObjectId)))
                {
                    reservationId = await find.ExecuteScalarAsync(cancellationToken) as string;
                }

                return reservationId is null
                    ? new SettleResult(SettleStatus.NotPending, null, 0)
                    : await PostgresMoneyPath.SettleAsync(connection, transaction, reservationId, settlement.Commit, settlement.ActualMicroUsd, now, capsOf, byClient: true, mayTouch, cancellationToken);
            }, cancellationToken));
        }

        return results;
    }

    public async ValueTask<IReadOnlyList<StoredDeferral>> ListDeferredAsync(string keyId, string vendor, DateTimeOffset deferredBefore, int limit, CancellationToken cancellationToken) =>
        await _database.OnConnectionAsync<IReadOnlyList<StoredDeferral>>(async connection =>
        {
            // COLLATE "C": ties ordered by code point, as SQLite orders text, whatever the database's collation.
            await using var command = Command(connection, null,
                """
                SELECT d.object_id, d.reservation_id, r.estimate, d.refetch, d.created_at
                FROM deferred_object d JOIN reservation r ON r.reservation_id = d.reservation_id
                WHERE d.key_id = $1 AND d.vendor = $2 AND r.state = 0 AND d.created_at <= $3
                ORDER BY d.created_at, d.object_id COLLATE "C" LIMIT $4
                """,
                Text(keyId), Text(vendor), Millis(deferredBefore), Bigint(limit));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            var list = new List<StoredDeferral>();
            while (await reader.ReadAsync(cancellationToken))
            {
                list.Add(new StoredDeferral(reader.GetString(0), reader.GetString(1), reader.GetInt64(2), reader.GetString(3), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(4))));
            }

            return list;
        }, cancellationToken);

    /// <summary>
    /// One statement decides: the insert, or the update of an expired claim or of the holder's own, takes the row's lock
    /// and evaluates its condition on the newest committed version, so of two replicas claiming at once exactly one
    /// wins. A claim that did not win returns no row, and the holder is then read.
    /// </summary>
    public async ValueTask<DutyClaim> ClaimDutyAsync(string keyId, string duty, string holder, DateTimeOffset now, TimeSpan ttl, CancellationToken cancellationToken) =>
        await _database.OnConnectionAsync(async connection =>
        {
            // Taken over only when expired; renewed (or, with a zero TTL, given up) only by its holder.
            var nowMs = now.ToUnixTimeMilliseconds();
            await using (var claim = Command(connection, null,
                """
                INSERT INTO duty_claim (key_id, duty, holder, expires_at) VALUES ($1, $2, $3, $4)
                ON CONFLICT (key_id, duty) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
                WHERE duty_claim.holder = excluded.holder OR duty_claim.expires_at <= $5
                RETURNING holder, expires_at
                """,
                Text(keyId), Text(duty), Text(holder), Bigint(nowMs + (long)ttl.TotalMilliseconds), Bigint(nowMs)))
            await using (var won = await claim.ExecuteReaderAsync(cancellationToken))
            {
                if (await won.ReadAsync(cancellationToken))
                {
                    return new DutyClaim(won.GetString(0), DateTimeOffset.FromUnixTimeMilliseconds(won.GetInt64(1)));
                }
            }

            // Claims are never deleted: the row that refused this claim is there to read.
            await using var read = Command(connection, null, "SELECT holder, expires_at FROM duty_claim WHERE key_id = $1 AND duty = $2", Text(keyId), Text(duty));
            await using var reader = await read.ExecuteReaderAsync(cancellationToken);
            await reader.ReadAsync(cancellationToken);
            return new DutyClaim(reader.GetString(0), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(1)));
        }, cancellationToken);
}
