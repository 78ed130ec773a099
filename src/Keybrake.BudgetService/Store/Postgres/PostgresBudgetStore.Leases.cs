using Keybrake.BudgetService.Store.Sqlite;
using Npgsql;
using static Keybrake.BudgetService.Store.Postgres.PostgresSql;

namespace Keybrake.BudgetService.Store.Postgres;

/// <summary>
/// Budget leases on PostgreSQL. Each operation is a transaction that locks in the money path's order: the key's lock
/// (shared, so that a revocation and its voiding never miss a grant), the lease row, then the day counter, then the run
/// counter. A grant is sized on the counters as locked, so concurrent grants on any replicas never pass the cap.
/// </summary>
internal sealed partial class PostgresBudgetStore
{
    private const string LeaseColumns =
        "lease_id, key_id, run_id, day, client_id, holder, holder_name, granted, used, state, granted_at, expires_at, ended_at, holder_gone_at, sequence, last_granted";

    public async ValueTask<LeaseGrant> GrantLeaseAsync(LeaseCommand command, CancellationToken cancellationToken) =>
        await _database.InTransactionAsync((connection, transaction) => GrantAsync(connection, transaction, command, cancellationToken), cancellationToken);

    public async ValueTask<IReadOnlyList<bool>> RecordLeasedCallsAsync(IReadOnlyList<LeasedCallCommand> calls, string clientId, DateTimeOffset now, CancellationToken cancellationToken)
    {
        // One transaction per call, as settlements: a batch may touch several keys' counters.
        var stored = new List<bool>(calls.Count);
        foreach (var call in calls)
        {
            stored.Add(await _database.InTransactionAsync(
                (connection, transaction) => RecordLeasedCallAsync(connection, transaction, call, clientId, now, cancellationToken),
                cancellationToken,
                commitIf: recorded => recorded));
        }

        return stored;
    }

    public async ValueTask<IReadOnlyList<EndedLease>> ReturnLeasesAsync(IReadOnlyList<string> leaseIds, string clientId, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var ended = new List<EndedLease>();
        foreach (var id in leaseIds.Distinct(StringComparer.Ordinal))
        {
            ended.AddRange(await EndAsync("lease_id = $1 AND client_id = $2", [Text(id), Text(clientId)], LeaseState.Returned, now, cancellationToken));
        }

        return ended;
    }

    public async ValueTask<IReadOnlyList<EndedLease>> ExpireLeasesAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        // Each expired lease in a transaction of its own, so no sweep holds several keys' counters at once.
        var due = await _database.OnConnectionAsync(async connection =>
        {
            await using var command = Command(connection, null, "SELECT lease_id FROM lease WHERE state = 0 AND expires_at <= $1", Millis(now));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            var ids = new List<string>();
            while (await reader.ReadAsync(cancellationToken))
            {
                ids.Add(reader.GetString(0));
            }

            return ids;
        }, cancellationToken);
        var ended = new List<EndedLease>();
        foreach (var id in due)
        {
            ended.AddRange(await EndAsync("lease_id = $1 AND expires_at <= $2", [Text(id), Millis(now)], LeaseState.Expired, now, cancellationToken));
        }

        return ended;
    }

    public async ValueTask<IReadOnlyList<EndedLease>> VoidLeasesAsync(string keyId, DateTimeOffset now, CancellationToken cancellationToken) =>
        await EndAsync("key_id = $1", [Text(keyId)], LeaseState.Voided, now, cancellationToken);

    // One transaction for all of the credential's leases, whatever their keys: EndAsync moves the counters in key order,
    // the order every other multi-key transaction takes, so it cannot deadlock with them.
    public async ValueTask<IReadOnlyList<EndedLease>> VoidClientLeasesAsync(string clientId, DateTimeOffset now, CancellationToken cancellationToken) =>
        await EndAsync("client_id = $1", [Text(clientId)], LeaseState.Voided, now, cancellationToken);

    public async ValueTask<int> MarkHolderGoneAsync(string holder, bool gone, DateTimeOffset now, CancellationToken cancellationToken) =>
        await ExecuteAsync("UPDATE lease SET holder_gone_at = $2 WHERE holder = $1 AND state = 0", cancellationToken, Text(holder), Bigint(gone ? now.ToUnixTimeMilliseconds() : null));

    public async ValueTask<IReadOnlyList<StoredLease>> ListLeasesAsync(string? keyId, bool includeEnded, int limit, CancellationToken cancellationToken) =>
        await _database.OnConnectionAsync<IReadOnlyList<StoredLease>>(async connection =>
        {
            await using var command = Command(connection, null,
                $"SELECT {LeaseColumns} FROM lease WHERE ($1::text IS NULL OR key_id = $1) AND ($2 OR state = 0) ORDER BY granted_at DESC, lease_id LIMIT $3",
                Text(keyId), Boolean(includeEnded), Bigint(limit));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            var list = new List<StoredLease>();
            while (await reader.ReadAsync(cancellationToken))
            {
                list.Add(ReadLease(reader));
            }

            return list;
        }, cancellationToken);

    public async ValueTask<IReadOnlyDictionary<string, LeaseTotals>> GetLeaseTotalsAsync(CancellationToken cancellationToken) =>
        await _database.OnConnectionAsync<IReadOnlyDictionary<string, LeaseTotals>>(async connection =>
        {
            await using var command = Command(connection, null,
                """
                SELECT key_id, SUM(GREATEST(0, granted - used))::bigint, SUM(CASE WHEN holder_gone_at IS NULL THEN 0 ELSE GREATEST(0, granted - used) END)::bigint
                FROM lease WHERE state = 0 GROUP BY key_id
                """);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            var totals = new Dictionary<string, LeaseTotals>(StringComparer.Ordinal);
            while (await reader.ReadAsync(cancellationToken))
            {
                totals[reader.GetString(0)] = new LeaseTotals(reader.GetInt64(1), reader.GetInt64(2));
            }

            return totals;
        }, cancellationToken);

    public async ValueTask<bool> HasOutstandingLeasesAsync(string keyId, string? runId, CancellationToken cancellationToken) =>
        await _database.OnConnectionAsync(async connection =>
        {
            await using var command = Command(connection, null,
                "SELECT EXISTS (SELECT 1 FROM lease WHERE key_id = $1 AND state = 0 AND granted > used AND ($2::text IS NULL OR run_id = $2))",
                Text(keyId), Text(runId));
            return await command.ExecuteScalarAsync(cancellationToken) is true;
        }, cancellationToken);

    private static async Task<LeaseGrant> GrantAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, LeaseCommand request, CancellationToken cancellationToken)
    {
        await using (var locked = Command(connection, transaction, KeyLock.Shared, Text(request.KeyId)))
        {
            await locked.ExecuteNonQueryAsync(cancellationToken);
        }

        await using (var revoked = Command(connection, transaction, "SELECT revoked FROM key_state WHERE key_id = $1", Text(request.KeyId)))
        {
            if (await revoked.ExecuteScalarAsync(cancellationToken) is true)
            {
                return LeaseGrant.Refused(LeaseReasons.Revoked);
            }
        }

        var now = request.Now.ToUnixTimeMilliseconds();
        var day = SqliteCommands.DayText(request.Day);
        StoredLease? existing = null;
        long storedSequence = 0, lastGranted = 0;
        await using (var find = Command(connection, transaction, $"SELECT {LeaseColumns} FROM lease WHERE lease_id = $1 FOR UPDATE", Text(request.LeaseId)))
        await using (var reader = await find.ExecuteReaderAsync(cancellationToken))
        {
            if (await reader.ReadAsync(cancellationToken))
            {
                existing = ReadLease(reader);
                storedSequence = reader.GetInt64(14);
                lastGranted = reader.GetInt64(15);
            }
        }

        if (existing is not null)
        {
            if (existing.KeyId != request.KeyId || existing.ClientId != request.ClientId || existing.RunId != request.RunId)
            {
                return LeaseGrant.Refused(LeaseReasons.Ended);
            }

            if (request.Sequence <= storedSequence)
            {
                return SqliteBudgetStore.StoredAnswer(request.Sequence == storedSequence, lastGranted, existing.ExpiresAt);
            }

            if (existing.State != LeaseState.Active || existing.ExpiresAt.ToUnixTimeMilliseconds() <= now)
            {
                return LeaseGrant.Refused(LeaseReasons.Ended);
            }
        }

        var held = existing?.OutstandingMicroUsd ?? 0;
        var (daySettled, dayReserved) = await LockCounterAsync(connection, transaction, "day_counter", "day", request.KeyId, day, cancellationToken);
        var holders = await HoldersAsync(connection, transaction, "key_id = $1 AND day = $2", request.KeyId, day, request.Holder, now, cancellationToken);
        var grant = LeaseSizing.Grant(request.RequestedMicroUsd, request.MaxSliceMicroUsd, held, request.DailyCapMicroUsd, request.DailyCapMicroUsd - daySettled - dayReserved, holders);
        if (grant > 0 && request.RunId is { } run && request.RunCapMicroUsd is { } runCap)
        {
            var (runSettled, runReserved) = await LockCounterAsync(connection, transaction, "run_counter", "run_id", request.KeyId, run, cancellationToken);
            var llm = 0L;
            if (request.RunCapIncludesLlm)
            {
                await using var cost = Command(connection, transaction, "SELECT cost FROM llm_run_total WHERE run_id = $1", Text(run));
                llm = await cost.ExecuteScalarAsync(cancellationToken) is long spent ? spent : 0;
            }

            var runHolders = await HoldersAsync(connection, transaction, "key_id = $1 AND run_id = $2", request.KeyId, run, request.Holder, now, cancellationToken);
            grant = Math.Min(grant, LeaseSizing.Grant(request.RequestedMicroUsd, request.MaxSliceMicroUsd, held, runCap, runCap - runSettled - runReserved - llm, runHolders));
        }

        var expires = Math.Min(now + (long)request.Ttl.TotalMilliseconds, request.DayEnd.ToUnixTimeMilliseconds());
        if (existing is not null)
        {
            await using var update = Command(connection, transaction,
                """
                UPDATE lease SET sequence = $2, granted = granted + $3, last_granted = $3, holder = $4, holder_name = $5,
                    holder_gone_at = NULL, expires_at = CASE WHEN $3 > 0 THEN $6 ELSE expires_at END
                WHERE lease_id = $1
                """,
                Text(request.LeaseId), Bigint(request.Sequence), Bigint(grant), Text(request.Holder), Text(request.HolderName), Bigint(expires));
            await update.ExecuteNonQueryAsync(cancellationToken);
        }
        else if (grant > 0)
        {
            await using var insert = Command(connection, transaction,
                """
                INSERT INTO lease (lease_id, key_id, run_id, day, client_id, holder, holder_name, sequence, granted, last_granted, used, state, granted_at, expires_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, 0, 0, $10, $11)
                ON CONFLICT (lease_id) DO NOTHING
                """,
                Text(request.LeaseId), Text(request.KeyId), Text(request.RunId), Text(day), Text(request.ClientId), Text(request.Holder), Text(request.HolderName),
                Bigint(request.Sequence), Bigint(grant), Bigint(now), Bigint(expires));
            if (await insert.ExecuteNonQueryAsync(cancellationToken) == 0)
            {
                throw new RetryTransactionException(); // the same lease taken meanwhile (a retry racing its first try): answer as a retry
            }
        }

        if (grant == 0)
        {
            return LeaseGrant.Refused(LeaseReasons.NearCap);
        }

        await MoveCountersAsync(connection, transaction, request.KeyId, day, request.RunId, reserved: grant, leased: grant, cancellationToken);
        return new LeaseGrant(true, grant, DateTimeOffset.FromUnixTimeMilliseconds(expires), string.Empty);
    }

    /// <summary>Creates the counter row if need be and locks it; returns its settled and reserved.</summary>
    private static async Task<(long Settled, long Reserved)> LockCounterAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string table, string scopeColumn, string keyId, string scope, CancellationToken cancellationToken)
    {
        await using var batch = new NpgsqlBatch(connection, transaction)
        {
            BatchCommands =
            {
                BatchCommand($"INSERT INTO {table} (key_id, {scopeColumn}, settled, reserved) VALUES ($1, $2, 0, 0) ON CONFLICT (key_id, {scopeColumn}) DO NOTHING", Text(keyId), Text(scope)),
                BatchCommand($"SELECT settled, reserved FROM {table} WHERE key_id = $1 AND {scopeColumn} = $2 FOR UPDATE", Text(keyId), Text(scope)),
            },
        };
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken); // the insert returns no result set
        await reader.ReadAsync(cancellationToken);
        return (reader.GetInt64(0), reader.GetInt64(1));
    }

    private static async Task<int> HoldersAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string scope, string keyId, string scopeValue, string holder, long now, CancellationToken cancellationToken)
    {
        await using var count = Command(connection, transaction,
            $"SELECT COUNT(DISTINCT holder) FROM lease WHERE {scope} AND state = 0 AND expires_at > $3 AND holder <> $4",
            Text(keyId), Text(scopeValue), Bigint(now), Text(holder));
        return (int)(long)(await count.ExecuteScalarAsync(cancellationToken))! + 1;
    }

    private static async Task<bool> RecordLeasedCallAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, LeasedCallCommand call, string clientId, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using (var known = Command(connection, transaction, "SELECT 1 FROM reservation WHERE reservation_id = $1", Text(call.ReservationId)))
        {
            if (await known.ExecuteScalarAsync(cancellationToken) is not null)
            {
                return false;
            }
        }

        var hash = SqliteCommands.HashBytes(call.RequestHash);
        var inserted = false;
        foreach (var idempotencyKey in new[] { call.IdempotencyKey, call.IdempotencyKey + "#" + call.ReservationId })
        {
            // A call another process decided too (a retry across processes) keeps its own row: conservative, never lost.
            await using var insert = Command(connection, transaction,
                """
                INSERT INTO reservation (reservation_id, key_id, run_id, idempotency_key, request_hash, day, estimate, state, created_at, lease_id)
                SELECT $1, l.key_id, l.run_id, $2, $3, l.day, $4, 0, $5, l.lease_id FROM lease l
                WHERE l.lease_id = $6 AND l.key_id = $7 AND l.client_id = $8 AND l.run_id IS NOT DISTINCT FROM $9
                ON CONFLICT (key_id, idempotency_key) DO NOTHING
                """,
                Text(call.ReservationId), Text(idempotencyKey), Bytes(hash), Bigint(call.EstimateMicroUsd), Millis(now), Text(call.LeaseId), Text(call.KeyId), Text(clientId), Text(call.RunId));
            if (await insert.ExecuteNonQueryAsync(cancellationToken) == 1)
            {
                inserted = true;
                break;
            }

            // Nothing inserted because the lease is not the caller's: no second try.
            await using var exists = Command(connection, transaction,
                "SELECT 1 FROM lease WHERE lease_id = $1 AND key_id = $2 AND client_id = $3 AND run_id IS NOT DISTINCT FROM $4",
                Text(call.LeaseId), Text(call.KeyId), Text(clientId), Text(call.RunId));
            if (await exists.ExecuteScalarAsync(cancellationToken) is null)
            {
                return false;
            }
        }

        if (!inserted)
        {
            return false;
        }

        string day;
        long covered;
        await using (var used = Command(connection, transaction,
            """
            WITH before AS (SELECT lease_id, day, CASE WHEN state = 0 THEN GREATEST(0, granted - used) ELSE 0 END AS outstanding FROM lease WHERE lease_id = $1 FOR UPDATE)
            UPDATE lease l SET used = l.used + $2 FROM before WHERE l.lease_id = before.lease_id RETURNING before.day, LEAST($2, before.outstanding)
            """,
            Text(call.LeaseId), Bigint(call.EstimateMicroUsd)))
        await using (var reader = await used.ExecuteReaderAsync(cancellationToken))
        {
            await reader.ReadAsync(cancellationToken);
            day = reader.GetString(0);
            covered = reader.GetInt64(1);
        }

        await MoveCountersAsync(connection, transaction, call.KeyId, day, call.RunId, reserved: call.EstimateMicroUsd - covered, leased: -covered, cancellationToken);
        return true;
    }

    /// <summary>Ends the active leases <paramref name="where"/> selects, each freeing what it still held; one transaction.</summary>
    private async Task<List<EndedLease>> EndAsync(string where, NpgsqlParameter[] parameters, LeaseState state, DateTimeOffset now, CancellationToken cancellationToken) =>
        await _database.InTransactionAsync(async (connection, transaction) =>
        {
            var ending = new List<(EndedLease Lease, string Day)>();
            var n = parameters.Length;
            await using (var end = Command(connection, transaction,
                $"""
                WITH before AS (SELECT lease_id, GREATEST(0, granted - used) AS outstanding FROM lease WHERE state = 0 AND {where} ORDER BY lease_id FOR UPDATE)
                UPDATE lease l SET state = ${n + 1}, ended_at = ${n + 2} FROM before WHERE l.lease_id = before.lease_id
                RETURNING l.lease_id, l.key_id, l.run_id, l.day, before.outstanding
                """,
                [.. parameters, Smallint((short)state), Millis(now)]))
            await using (var reader = await end.ExecuteReaderAsync(cancellationToken))
            {
                while (await reader.ReadAsync(cancellationToken))
                {
                    ending.Add((new EndedLease(reader.GetString(0), reader.GetString(1), reader.NullableString(2), reader.GetInt64(4)), reader.GetString(3)));
                }
            }

            foreach (var (lease, day) in ending.OrderBy(e => e.Lease.KeyId, StringComparer.Ordinal))
            {
                await MoveCountersAsync(connection, transaction, lease.KeyId, day, lease.RunId, reserved: -lease.FreedMicroUsd, leased: -lease.FreedMicroUsd, cancellationToken);
            }

            return ending.Select(e => e.Lease).ToList();
        }, cancellationToken);

    private static async Task MoveCountersAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string keyId, string day, string? runId, long reserved, long leased, CancellationToken cancellationToken)
    {
        if (reserved == 0 && leased == 0)
        {
            return;
        }

        await using (var dayCounter = Command(connection, transaction,
            """
            INSERT INTO day_counter AS c (key_id, day, settled, reserved, leased) VALUES ($1, $2, 0, $3, $4)
            ON CONFLICT (key_id, day) DO UPDATE SET reserved = c.reserved + excluded.reserved, leased = c.leased + excluded.leased
            """,
            Text(keyId), Text(day), Bigint(reserved), Bigint(leased)))
        {
            await dayCounter.ExecuteNonQueryAsync(cancellationToken);
        }

        if (runId is not null)
        {
            await using var runCounter = Command(connection, transaction,
                """
                INSERT INTO run_counter AS c (key_id, run_id, settled, reserved, leased) VALUES ($1, $2, 0, $3, $4)
                ON CONFLICT (key_id, run_id) DO UPDATE SET reserved = c.reserved + excluded.reserved, leased = c.leased + excluded.leased
                """,
                Text(keyId), Text(runId), Bigint(reserved), Bigint(leased));
            await runCounter.ExecuteNonQueryAsync(cancellationToken);
        }
    }

    private static StoredLease ReadLease(NpgsqlDataReader reader) => new(
        reader.GetString(0),
        reader.GetString(1),
        reader.NullableString(2),
        reader.GetString(3),
        reader.GetString(4),
        reader.GetString(5),
        reader.GetString(6),
        reader.GetInt64(7),
        reader.GetInt64(8),
        (LeaseState)reader.GetInt16(9),
        DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(10)),
        DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(11)),
        reader.NullableInt64(12) is { } ended ? DateTimeOffset.FromUnixTimeMilliseconds(ended) : null,
        reader.NullableInt64(13) is { } gone ? DateTimeOffset.FromUnixTimeMilliseconds(gone) : null);
}
