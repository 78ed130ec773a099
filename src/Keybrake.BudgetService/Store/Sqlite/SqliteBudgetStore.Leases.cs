using Microsoft.Data.Sqlite;

namespace Keybrake.BudgetService.Store.Sqlite;

/// <summary>Budget leases on SQLite: each operation one unit on the worker, so sizing and the counters move together.</summary>
internal sealed partial class SqliteBudgetStore
{
    private const string LeaseColumns =
        "lease_id, key_id, run_id, day, client_id, holder, holder_name, granted, used, state, granted_at, expires_at, ended_at, holder_gone_at, sequence, last_granted";

    public ValueTask<LeaseGrant> GrantLeaseAsync(LeaseCommand command, CancellationToken cancellationToken) =>
        new(Worker.RunAsync(c => Grant(c, command), cancellationToken));

    public ValueTask<IReadOnlyList<bool>> RecordLeasedCallsAsync(IReadOnlyList<LeasedCallCommand> calls, string clientId, DateTimeOffset now, CancellationToken cancellationToken) =>
        new(Worker.RunAsync<IReadOnlyList<bool>>(c => calls.Select(call => RecordLeasedCall(c, call, clientId, now)).ToList(), cancellationToken));

    public ValueTask<IReadOnlyList<EndedLease>> ReturnLeasesAsync(IReadOnlyList<string> leaseIds, string clientId, DateTimeOffset now, CancellationToken cancellationToken) =>
        new(Worker.RunAsync<IReadOnlyList<EndedLease>>(
            c => leaseIds.Distinct(StringComparer.Ordinal)
                .SelectMany(id => EndLeases(c, "lease_id = $a AND client_id = $b", id, clientId, LeaseState.Returned, now))
                .ToList(),
            cancellationToken));

    public ValueTask<IReadOnlyList<EndedLease>> ExpireLeasesAsync(DateTimeOffset now, CancellationToken cancellationToken) =>
        new(Worker.RunAsync<IReadOnlyList<EndedLease>>(
            c => EndLeases(c, "expires_at <= $a", now.ToUnixTimeMilliseconds(), null, LeaseState.Expired, now),
            cancellationToken));

    public ValueTask<IReadOnlyList<EndedLease>> VoidLeasesAsync(string keyId, DateTimeOffset now, CancellationToken cancellationToken) =>
        new(Worker.RunAsync<IReadOnlyList<EndedLease>>(
            c => EndLeases(c, "key_id = $a", keyId, null, LeaseState.Voided, now),
            cancellationToken));

    public ValueTask<IReadOnlyList<EndedLease>> VoidClientLeasesAsync(string clientId, DateTimeOffset now, CancellationToken cancellationToken) =>
        new(Worker.RunAsync<IReadOnlyList<EndedLease>>(
            c => EndLeases(c, "client_id = $a", clientId, null, LeaseState.Voided, now),
            cancellationToken));

    public ValueTask<int> MarkHolderGoneAsync(string holder, bool gone, DateTimeOffset now, CancellationToken cancellationToken) =>
        new(Worker.RunAsync(
            c =>
            {
                using var command = c.AdHoc(
                    "UPDATE lease SET holder_gone_at = $gone WHERE holder = $holder AND state = 0",
                    ("$holder", holder), ("$gone", gone ? now.ToUnixTimeMilliseconds() : null));
                return command.ExecuteNonQuery();
            },
            cancellationToken));

    public ValueTask<IReadOnlyList<StoredLease>> ListLeasesAsync(string? keyId, bool includeEnded, int limit, CancellationToken cancellationToken) =>
        new(Worker.RunAsync<IReadOnlyList<StoredLease>>(
            c =>
            {
                using var command = c.AdHoc(
                    $"SELECT {LeaseColumns} FROM lease WHERE ($key IS NULL OR key_id = $key) AND ($ended = 1 OR state = 0) ORDER BY granted_at DESC, lease_id LIMIT $limit",
                    ("$key", keyId), ("$ended", includeEnded ? 1 : 0), ("$limit", limit));
                using var reader = command.ExecuteReader();
                var list = new List<StoredLease>();
                while (reader.Read())
                {
                    list.Add(ReadLease(reader));
                }

                return list;
            },
            cancellationToken));

    public ValueTask<IReadOnlyDictionary<string, LeaseTotals>> GetLeaseTotalsAsync(CancellationToken cancellationToken) =>
        new(Worker.RunAsync<IReadOnlyDictionary<string, LeaseTotals>>(
            c =>
            {
                using var command = c.AdHoc(
                    """
                    SELECT key_id, SUM(MAX(0, granted - used)), SUM(CASE WHEN holder_gone_at IS NULL THEN 0 ELSE MAX(0, granted - used) END)
                    FROM lease WHERE state = 0 GROUP BY key_id
                    """);
                using var reader = command.ExecuteReader();
                var totals = new Dictionary<string, LeaseTotals>(StringComparer.Ordinal);
                while (reader.Read())
                {
                    totals[reader.GetString(0)] = new LeaseTotals(reader.GetInt64(1), reader.GetInt64(2));
                }

                return totals;
            },
            cancellationToken));

    public ValueTask<bool> HasOutstandingLeasesAsync(string keyId, string? runId, CancellationToken cancellationToken) =>
        new(Worker.RunAsync(
            c =>
            {
                using var command = c.AdHoc(
                    "SELECT EXISTS (SELECT 1 FROM lease WHERE key_id = $key AND state = 0 AND granted > used AND ($run IS NULL OR run_id = $run))",
                    ("$key", keyId), ("$run", runId));
                return command.ExecuteScalar() is long found && found != 0;
            },
            cancellationToken));

    private static LeaseGrant Grant(SqliteCommands c, LeaseCommand request)
    {
        if (c.IsRevoked(request.KeyId))
        {
            return LeaseGrant.Refused(LeaseReasons.Revoked);
        }

        var now = request.Now.ToUnixTimeMilliseconds();
        var day = SqliteCommands.DayText(request.Day);
        StoredLease? existing = null;
        long storedSequence = 0, lastGranted = 0;
        using (var find = c.AdHoc($"SELECT {LeaseColumns} FROM lease WHERE lease_id = $id", ("$id", request.LeaseId)))
        using (var reader = find.ExecuteReader())
        {
            if (reader.Read())
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
                return LeaseGrant.Refused(LeaseReasons.Ended); // an id another lease has: never this request's
            }

            if (request.Sequence <= storedSequence)
            {
                return StoredAnswer(request.Sequence == storedSequence, lastGranted, existing.ExpiresAt);
            }

            if (existing.State != LeaseState.Active || existing.ExpiresAt.ToUnixTimeMilliseconds() <= now)
            {
                return LeaseGrant.Refused(LeaseReasons.Ended);
            }
        }

        var held = existing?.OutstandingMicroUsd ?? 0;
        var daySpend = c.DaySpend(request.KeyId, request.Day);
        var grant = LeaseSizing.Grant(
            request.RequestedMicroUsd,
            request.MaxSliceMicroUsd,
            held,
            request.DailyCapMicroUsd,
            request.DailyCapMicroUsd - daySpend.SettledMicroUsd - daySpend.ReservedMicroUsd,
            Holders(c, "key_id = $key AND day = $day", request, day, now));
        if (grant > 0 && request.RunId is { } run && request.RunCapMicroUsd is { } runCap)
        {
            var runSpend = c.RunSpend(request.KeyId, run);
            var llm = 0L;
            if (request.RunCapIncludesLlm)
            {
                using var cost = c.AdHoc("SELECT cost FROM llm_run_total WHERE run_id = $run", ("$run", run));
                llm = cost.ExecuteScalar() is long spent ? spent : 0;
            }

            grant = Math.Min(grant, LeaseSizing.Grant(
                request.RequestedMicroUsd,
                request.MaxSliceMicroUsd,
                held,
                runCap,
                runCap - runSpend.SettledMicroUsd - runSpend.ReservedMicroUsd - llm,
                Holders(c, "key_id = $key AND run_id = $run", request, day, now)));
        }

        var expires = Math.Min(now + (long)request.Ttl.TotalMilliseconds, request.DayEnd.ToUnixTimeMilliseconds());
        if (existing is not null)
        {
            // The holder that tops a lease up holds it now (a process that reconnected has a new stream): not stranded.
            using var update = c.AdHoc(
                """
                UPDATE lease SET sequence = $seq, granted = granted + $grant, last_granted = $grant, holder = $holder, holder_name = $name,
                    holder_gone_at = NULL, expires_at = CASE WHEN $grant > 0 THEN $expires ELSE expires_at END
                WHERE lease_id = $id
                """,
                ("$id", request.LeaseId), ("$seq", request.Sequence), ("$grant", grant), ("$holder", request.Holder), ("$name", request.HolderName), ("$expires", expires));
            update.ExecuteNonQuery();
        }
        else if (grant > 0)
        {
            using var insert = c.AdHoc(
                """
                INSERT INTO lease (lease_id, key_id, run_id, day, client_id, holder, holder_name, sequence, granted, last_granted, used, state, granted_at, expires_at)
                VALUES ($id, $key, $run, $day, $client, $holder, $name, $seq, $grant, $grant, 0, 0, $now, $expires)
                """,
                ("$id", request.LeaseId), ("$key", request.KeyId), ("$run", request.RunId), ("$day", day), ("$client", request.ClientId), ("$holder", request.Holder),
                ("$name", request.HolderName), ("$seq", request.Sequence), ("$grant", grant), ("$now", now), ("$expires", expires));
            insert.ExecuteNonQuery();
        }

        if (grant == 0)
        {
            return LeaseGrant.Refused(LeaseReasons.NearCap);
        }

        MoveCounters(c, request.KeyId, day, request.RunId, reserved: grant, leased: grant);
        return new LeaseGrant(true, grant, DateTimeOffset.FromUnixTimeMilliseconds(expires), string.Empty);
    }

    /// <summary>A retry's answer: the same grant for the same sequence, nothing for an older one.</summary>
    internal static LeaseGrant StoredAnswer(bool sameSequence, long lastGranted, DateTimeOffset expiresAt) =>
        sameSequence && lastGranted > 0 ? new LeaseGrant(true, lastGranted, expiresAt, string.Empty)
        : sameSequence ? LeaseGrant.Refused(LeaseReasons.NearCap)
        : LeaseGrant.Refused(LeaseReasons.Ended);

    /// <summary>The distinct holders of active leases in scope, counting the requester once.</summary>
    private static int Holders(SqliteCommands c, string scope, LeaseCommand request, string day, long now)
    {
        using var count = c.AdHoc(
            $"SELECT COUNT(DISTINCT holder) FROM lease WHERE {scope} AND state = 0 AND expires_at > $now AND holder <> $holder",
            ("$key", request.KeyId), ("$day", day), ("$run", request.RunId), ("$now", now), ("$holder", request.Holder));
        return (int)(long)count.ExecuteScalar()! + 1;
    }

    private static bool RecordLeasedCall(SqliteCommands c, LeasedCallCommand call, string clientId, DateTimeOffset now)
    {
        using (var known = c.AdHoc("SELECT 1 FROM reservation WHERE reservation_id = $id", ("$id", call.ReservationId)))
        {
            if (known.ExecuteScalar() is not null)
            {
                return false;
            }
        }

        string day;
        string? run;
        long outstanding;
        using (var find = c.AdHoc("SELECT key_id, run_id, day, client_id, state, granted - used FROM lease WHERE lease_id = $id", ("$id", call.LeaseId)))
        using (var lease = find.ExecuteReader())
        {
            if (!lease.Read() || lease.GetString(0) != call.KeyId || lease.GetString(3) != clientId)
            {
                return false;
            }

            run = lease.IsDBNull(1) ? null : lease.GetString(1);
            if (run != call.RunId)
            {
                return false;
            }

            day = lease.GetString(2);
            outstanding = lease.GetInt32(4) == (int)LeaseState.Active ? Math.Max(0, lease.GetInt64(5)) : 0;
        }

        var hash = SqliteCommands.HashBytes(call.RequestHash);

        // A call another process decided too (a retry across processes) keeps its own row: conservative, never lost.
        if (!InsertLeased(c, call, call.IdempotencyKey, run, day, hash, now) && !InsertLeased(c, call, call.IdempotencyKey + "#" + call.ReservationId, run, day, hash, now))
        {
            return false;
        }

        var covered = Math.Min(call.EstimateMicroUsd, outstanding);
        using (var used = c.AdHoc("UPDATE lease SET used = used + $estimate WHERE lease_id = $id", ("$id", call.LeaseId), ("$estimate", call.EstimateMicroUsd)))
        {
            used.ExecuteNonQuery();
        }

        // The covered part moves from the lease to the reservation (reserved unchanged); the rest was not held: it counts now.
        MoveCounters(c, call.KeyId, day, run, reserved: call.EstimateMicroUsd - covered, leased: -covered);
        return true;
    }

    private static bool InsertLeased(SqliteCommands c, LeasedCallCommand call, string idempotencyKey, string? run, string day, byte[] hash, DateTimeOffset now)
    {
        using var insert = c.AdHoc(
            """
            INSERT INTO reservation (reservation_id, key_id, run_id, idempotency_key, request_hash, day, estimate, state, created_at, lease_id)
            VALUES ($id, $key, $run, $idem, $hash, $day, $estimate, 0, $now, $lease)
            ON CONFLICT (key_id, idempotency_key) DO NOTHING
            """,
            ("$id", call.ReservationId), ("$key", call.KeyId), ("$run", run), ("$idem", idempotencyKey), ("$hash", hash), ("$day", day),
            ("$estimate", call.EstimateMicroUsd), ("$now", now.ToUnixTimeMilliseconds()), ("$lease", call.LeaseId));
        return insert.ExecuteNonQuery() == 1;
    }

    /// <summary>Ends the active leases <paramref name="where"/> selects, freeing what each still held.</summary>
    private static List<EndedLease> EndLeases(SqliteCommands c, string where, object a, object? b, LeaseState state, DateTimeOffset now)
    {
        var ending = new List<(EndedLease Lease, string Day)>();
        using (var find = c.AdHoc($"SELECT lease_id, key_id, run_id, day, MAX(0, granted - used) FROM lease WHERE state = 0 AND {where}", ("$a", a), ("$b", b)))
        using (var reader = find.ExecuteReader())
        {
            while (reader.Read())
            {
                ending.Add((new EndedLease(reader.GetString(0), reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetString(2), reader.GetInt64(4)), reader.GetString(3)));
            }
        }

        foreach (var (lease, day) in ending)
        {
            using (var end = c.AdHoc(
                "UPDATE lease SET state = $state, ended_at = $now WHERE lease_id = $id AND state = 0",
                ("$id", lease.LeaseId), ("$state", (int)state), ("$now", now.ToUnixTimeMilliseconds())))
            {
                end.ExecuteNonQuery();
            }

            MoveCounters(c, lease.KeyId, day, lease.RunId, reserved: -lease.FreedMicroUsd, leased: -lease.FreedMicroUsd);
        }

        return ending.Select(e => e.Lease).ToList();
    }

    private static void MoveCounters(SqliteCommands c, string keyId, string day, string? runId, long reserved, long leased)
    {
        if (reserved == 0 && leased == 0)
        {
            return;
        }

        using (var dayCounter = c.AdHoc(
            """
            INSERT INTO day_counter (key_id, day, settled, reserved, leased) VALUES ($key, $scope, 0, $reserved, $leased)
            ON CONFLICT (key_id, day) DO UPDATE SET reserved = reserved + excluded.reserved, leased = leased + excluded.leased
            """,
            ("$key", keyId), ("$scope", day), ("$reserved", reserved), ("$leased", leased)))
        {
            dayCounter.ExecuteNonQuery();
        }

        if (runId is not null)
        {
            using var runCounter = c.AdHoc(
                """
                INSERT INTO run_counter (key_id, run_id, settled, reserved, leased) VALUES ($key, $scope, 0, $reserved, $leased)
                ON CONFLICT (key_id, run_id) DO UPDATE SET reserved = reserved + excluded.reserved, leased = leased + excluded.leased
                """,
                ("$key", keyId), ("$scope", runId), ("$reserved", reserved), ("$leased", leased));
            runCounter.ExecuteNonQuery();
        }
    }

    private static StoredLease ReadLease(SqliteDataReader reader) => new(
        reader.GetString(0),
        reader.GetString(1),
        reader.IsDBNull(2) ? null : reader.GetString(2),
        reader.GetString(3),
        reader.GetString(4),
        reader.GetString(5),
        reader.GetString(6),
        reader.GetInt64(7),
        reader.GetInt64(8),
        (LeaseState)reader.GetInt32(9),
        DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(10)),
        DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(11)),
        reader.IsDBNull(12) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(12)),
        reader.IsDBNull(13) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(13)));
}
