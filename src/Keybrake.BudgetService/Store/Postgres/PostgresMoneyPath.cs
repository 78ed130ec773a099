using Keybrake.BudgetService.Store.Sqlite;
using Npgsql;
using static Keybrake.BudgetService.Store.Postgres.PostgresSql;

namespace Keybrake.BudgetService.Store.Postgres;

/// <summary>
/// Authorize and Settle on PostgreSQL, each one transaction (an Authorize commits only when it reserved) (see <see cref="PostgresDatabase"/> for the isolation
/// level and the lock order). A counter only ever moves in one conditional statement; nothing is decided on a value
/// read earlier in application code.
/// </summary>
internal static class PostgresMoneyPath
{
    private const short Pending = 0;
    private const short Committed = 1;
    private const short Released = 2;
    private const short Held = 3;

    // The reservation's unique (key, idempotency key) entry is its first lock: a concurrent retry of the same call waits
    // here for this transaction, then finds the row.
    private const string InsertReservation = """
        INSERT INTO reservation (reservation_id, key_id, run_id, idempotency_key, request_hash, day, estimate, state, created_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8)
        ON CONFLICT (key_id, idempotency_key) DO NOTHING
        """;

    // Reserves on the day counter only if the estimate fits under the cap, in one statement that locks the row: a new row
    // is created holding the estimate (the caller checked estimate <= cap); an existing one grows only when the newest
    // committed version still has room. No row back: the call does not fit.
    private const string ReserveDay = """
        INSERT INTO day_counter AS c (key_id, day, settled, reserved) VALUES ($1, $2, 0, $3)
        ON CONFLICT (key_id, day) DO UPDATE SET reserved = c.reserved + excluded.reserved
        WHERE c.settled + c.reserved + excluded.reserved <= $4
        RETURNING c.settled + c.reserved
        """;

    private const string ReserveRun = """
        INSERT INTO run_counter AS c (key_id, run_id, settled, reserved) VALUES ($1, $2, 0, $3)
        ON CONFLICT (key_id, run_id) DO UPDATE SET reserved = c.reserved + excluded.reserved
        WHERE c.settled + c.reserved + excluded.reserved <= $4
        RETURNING c.settled + c.reserved
        """;

    private const string DaySpent = "SELECT settled + reserved FROM day_counter WHERE key_id = $1 AND day = $2";

    private const string RunSpent = "SELECT settled + reserved FROM run_counter WHERE key_id = $1 AND run_id = $2";

    private const string LlmRunSpent = "SELECT cost FROM llm_run_total WHERE run_id = $1";

    // The common case in one statement, one round trip: a new call on a key that is not revoked inserts its reservation,
    // and only then (the counters read the insert's output) reserves on the day counter and, if that fit, the run counter;
    // the locks are taken in the same order as on the slow path. Nothing inserted: revoked, or a retry (the slow path says which).
    //
    // It runs after KeyLock.Shared, in the same batch (one round trip) but as a statement of its own, so its snapshot is
    // taken once the key's lock is held: a reservation either commits before a revocation of its key can, or sees it.
    private const string ReserveNewCall = """
        WITH ks AS (
            SELECT revoked FROM key_state WHERE key_id = $2
        ), ins AS (
            INSERT INTO reservation (reservation_id, key_id, run_id, idempotency_key, request_hash, day, estimate, state, created_at)
            SELECT $1, $2, $3, $4, $5, $6, $7, 0, $8
            WHERE NOT EXISTS (SELECT 1 FROM ks WHERE revoked)
            ON CONFLICT (key_id, idempotency_key) DO NOTHING
            RETURNING key_id
        ), d AS (
            INSERT INTO day_counter AS c (key_id, day, settled, reserved) SELECT key_id, $6, 0, $7 FROM ins
            ON CONFLICT (key_id, day) DO UPDATE SET reserved = c.reserved + excluded.reserved
            WHERE c.settled + c.reserved + excluded.reserved <= $9
            RETURNING c.settled + c.reserved AS spent
        ), r AS (
            INSERT INTO run_counter AS c (key_id, run_id, settled, reserved) SELECT key_id, $3, 0, $7 FROM ins WHERE $3 IS NOT NULL AND EXISTS (SELECT 1 FROM d)
            ON CONFLICT (key_id, run_id) DO UPDATE SET reserved = c.reserved + excluded.reserved
            WHERE c.settled + c.reserved + excluded.reserved <= $10
            RETURNING c.settled + c.reserved AS spent
        )
        SELECT (SELECT count(*) FROM ins), (SELECT spent FROM d), (SELECT spent FROM r)
        """;

    public static async Task<AuthorizeOutcome> AuthorizeAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, AuthorizeCommand call, CancellationToken cancellationToken)
    {
        if (call.RunCapIncludesLlm && call.RunId is { } run && call.RunCapMicroUsd is { } cap)
        {
            // A run cap that includes LLM spend leaves the key's calls what the run's reported tokens have not used
            // (possibly less than nothing). Only such a key pays this read. LLM spend is reported after the fact, so a
            // log that lands after this read is counted by the next call (the bound docs/budget-service.md states).
            var llm = await ScalarAsync(connection, transaction, LlmRunSpent, cancellationToken, Text(run)) ?? 0;
            var counted = await AuthorizeAsync(connection, transaction, call with { RunCapIncludesLlm = false, RunCapMicroUsd = cap - llm }, cancellationToken);
            return counted.Status is AuthorizeStatus.RunCapExceeded or AuthorizeStatus.Reserved ? counted with { LlmSpentMicroUsd = llm } : counted;
        }

        // A new row holds its estimate unchecked, so the one-statement path runs only when the estimate alone fits the caps.
        var runCap = call.RunCapMicroUsd ?? long.MaxValue;
        if (call.EstimateMicroUsd <= call.DailyCapMicroUsd && (call.RunId is null || call.EstimateMicroUsd <= runCap)
            && await ReserveNewCallAsync(connection, transaction, call, runCap, cancellationToken) is { } reserved)
        {
            return reserved;
        }

        // The fast path took the key's lock already; taking it twice in a transaction is harmless.
        await using (var locked = Command(connection, transaction, KeyLock.Shared, Text(call.KeyId)))
        {
            await locked.ExecuteNonQueryAsync(cancellationToken);
        }

        await using (var revoked = Command(connection, transaction, "SELECT revoked FROM key_state WHERE key_id = $1", Text(call.KeyId)))
        {
            if (await revoked.ExecuteScalarAsync(cancellationToken) is true)
            {
                return new AuthorizeOutcome(AuthorizeStatus.Revoked, null, 0, 0);
            }
        }

        var day = SqliteCommands.DayText(call.Day);
        var hash = SqliteCommands.HashBytes(call.RequestHash);
        var now = call.Now.ToUnixTimeMilliseconds();
        await using (var insert = Command(connection, transaction, InsertReservation,
            Text(call.ReservationId), Text(call.KeyId), Text(call.RunId), Text(call.IdempotencyKey), Bytes(hash), Text(day), Bigint(call.EstimateMicroUsd), Bigint(now)))
        {
            if (await insert.ExecuteNonQueryAsync(cancellationToken) == 1)
            {
                return await ReserveAsync(connection, transaction, call, day, cancellationToken);
            }
        }

        // The idempotency key is taken: a retry gets the earlier call's answer, even when the day is full by now. The row
        // is locked, so that two retries of a released call do not both reserve it again.
        string id;
        short state;
        long daySpent;
        await using (var find = Command(connection, transaction,
            """
            SELECT r.reservation_id, r.request_hash, r.state, (SELECT d.settled + d.reserved FROM day_counter d WHERE d.key_id = $1 AND d.day = $3)
            FROM reservation r WHERE r.key_id = $1 AND r.idempotency_key = $2 FOR UPDATE OF r
            """,
            Text(call.KeyId), Text(call.IdempotencyKey), Text(day)))
        await using (var found = await find.ExecuteReaderAsync(cancellationToken))
        {
            if (!await found.ReadAsync(cancellationToken))
            {
                throw new RetryTransactionException(); // pruned between the insert and this read
            }

            id = found.GetString(0);
            var sameRequest = ((byte[])found.GetValue(1)).AsSpan().SequenceEqual(hash);
            state = found.GetInt16(2);
            daySpent = found.NullableInt64(3) ?? 0;
            if (!sameRequest)
            {
                return new AuthorizeOutcome(AuthorizeStatus.IdempotencyKeyReused, id, daySpent, 0);
            }
        }

        switch (state)
        {
            case Pending or Held:
                return new AuthorizeOutcome(AuthorizeStatus.ReusedPending, id, daySpent, 0);
            case Committed:
                return new AuthorizeOutcome(AuthorizeStatus.ReusedSettled, id, daySpent, 0);
        }

        // The vendor refused it earlier: it reserves again, under a new reservation id, so that a late duplicate of the
        // release finds nothing to release rather than the call now in flight.
        var outcome = await ReserveAsync(connection, transaction, call, day, cancellationToken);
        if (outcome.Status == AuthorizeStatus.Reserved)
        {
            await using var again = Command(connection, transaction,
                """
                UPDATE reservation SET reservation_id = $2, run_id = $3, request_hash = $4, day = $5, estimate = $6, state = 0,
                    actual = NULL, created_at = $7, finished_at = NULL
                WHERE reservation_id = $1 AND state = 2
                """,
                Text(id), Text(call.ReservationId), Text(call.RunId), Bytes(hash), Text(day), Bigint(call.EstimateMicroUsd), Bigint(now));
            await again.ExecuteNonQueryAsync(cancellationToken);
        }

        return outcome;
    }

    /// <summary>The one-statement path for a new call; <see langword="null"/> when it inserted nothing (revoked, or a retry).</summary>
    private static async Task<AuthorizeOutcome?> ReserveNewCallAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, AuthorizeCommand call, long runCap, CancellationToken cancellationToken)
    {
        var day = SqliteCommands.DayText(call.Day);
        long inserted;
        long? dayAfter, runAfter;
        await using (var batch = new NpgsqlBatch(connection, transaction)
        {
            BatchCommands =
            {
                BatchCommand(KeyLock.Shared, Text(call.KeyId)),
                BatchCommand(ReserveNewCall,
                    Text(call.ReservationId), Text(call.KeyId), Text(call.RunId), Text(call.IdempotencyKey), Bytes(SqliteCommands.HashBytes(call.RequestHash)), Text(day),
                    Bigint(call.EstimateMicroUsd), Millis(call.Now), Bigint(call.DailyCapMicroUsd), Bigint(runCap)),
            },
        })
        await using (var reader = await batch.ExecuteReaderAsync(cancellationToken))
        {
            await reader.NextResultAsync(cancellationToken);
            await reader.ReadAsync(cancellationToken);
            inserted = reader.GetInt64(0);
            dayAfter = reader.NullableInt64(1);
            runAfter = reader.NullableInt64(2);
        }

        if (inserted == 0)
        {
            return null;
        }

        if (dayAfter is null)
        {
            var spent = await ScalarAsync(connection, transaction, DaySpent, cancellationToken, Text(call.KeyId), Text(day)) ?? 0;
            return new AuthorizeOutcome(AuthorizeStatus.DailyCapExceeded, null, spent, 0);
        }

        if (call.RunId is { } run && runAfter is null)
        {
            var spent = await ScalarAsync(connection, transaction, RunSpent, cancellationToken, Text(call.KeyId), Text(run)) ?? 0;
            return new AuthorizeOutcome(AuthorizeStatus.RunCapExceeded, null, dayAfter.Value - call.EstimateMicroUsd, spent);
        }

        return new AuthorizeOutcome(AuthorizeStatus.Reserved, call.ReservationId, dayAfter.Value, runAfter ?? call.EstimateMicroUsd);
    }

    /// <summary>
    /// Reserves on the day counter, then the run counter; when either has no room, says which (the caller rolls the
    /// transaction back: only a <see cref="AuthorizeStatus.Reserved"/> outcome commits).
    /// </summary>
    private static async Task<AuthorizeOutcome> ReserveAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, AuthorizeCommand call, string day, CancellationToken cancellationToken)
    {
        long? dayAfter = null;
        if (call.EstimateMicroUsd <= call.DailyCapMicroUsd)
        {
            dayAfter = await ScalarAsync(connection, transaction, ReserveDay, cancellationToken, Text(call.KeyId), Text(day), Bigint(call.EstimateMicroUsd), Bigint(call.DailyCapMicroUsd));
        }

        if (dayAfter is null)
        {
            var spent = await ScalarAsync(connection, transaction, DaySpent, cancellationToken, Text(call.KeyId), Text(day)) ?? 0;
            return new AuthorizeOutcome(AuthorizeStatus.DailyCapExceeded, null, spent, 0);
        }

        var runAfter = call.EstimateMicroUsd;
        if (call.RunId is { } run)
        {
            // Without a run cap the run counter still counts; its bound is then one no sum can reach (see BookLimits).
            var cap = call.RunCapMicroUsd ?? long.MaxValue;
            long? after = call.EstimateMicroUsd <= cap
                ? await ScalarAsync(connection, transaction, ReserveRun, cancellationToken, Text(call.KeyId), Text(run), Bigint(call.EstimateMicroUsd), Bigint(cap))
                : null;
            if (after is null)
            {
                var spent = await ScalarAsync(connection, transaction, RunSpent, cancellationToken, Text(call.KeyId), Text(run)) ?? 0;
                    return new AuthorizeOutcome(AuthorizeStatus.RunCapExceeded, null, dayAfter.Value - call.EstimateMicroUsd, spent);
            }

            runAfter = after.Value;
        }

        return new AuthorizeOutcome(AuthorizeStatus.Reserved, call.ReservationId, dayAfter.Value, runAfter);
    }

    /// <summary>
    /// Finishes one reservation and moves its counters, with the rules of <see cref="SqliteCommands.Settle"/>: a client's
    /// commit (<paramref name="byClient"/>) finishes only a pending reservation and is held when it claims more than
    /// <see cref="BookLimits.HoldAbove"/> allows or would take a counter past its bound; an operator's also finishes a
    /// held one, and is refused (<see cref="SettleStatus.TooLarge"/>) only at the bound. A commit that takes the day's or
    /// the run's settled spend past the cap <paramref name="capsOf"/> gives now records the overrun with the counter.
    /// The reservation row is locked first, then the day counter, then the run counter.
    /// </summary>
    public static async Task<SettleResult> SettleAsync(
        NpgsqlConnection connection,
        NpgsqlTransaction transaction,
        string reservationId,
        bool commit,
        long actual,
        DateTimeOffset now,
        Func<string, KeyCaps?> capsOf,
        bool byClient,
        Func<string, bool>? mayTouch,
        CancellationToken cancellationToken)
    {
        string key, day;
        string? run;
        long estimate;
        await using (var find = Command(connection, transaction,
            "SELECT key_id, run_id, day, estimate, state FROM reservation WHERE reservation_id = $1 AND state IN (0, 3) FOR UPDATE",
            Text(reservationId)))
        await using (var found = await find.ExecuteReaderAsync(cancellationToken))
        {
            if (!await found.ReadAsync(cancellationToken) || (found.GetInt16(4) == Held && byClient))
            {
                return new SettleResult(SettleStatus.NotPending, null, 0);
            }

            key = found.GetString(0);
            if (mayTouch is not null && !mayTouch(key))
            {
                return new SettleResult(SettleStatus.OutOfScope, key, 0);
            }

            run = found.NullableString(1);
            day = found.GetString(2);
            estimate = found.GetInt64(3);
        }

        var settled = commit ? Math.Clamp(actual, 0, BookLimits.MaxAmountMicroUsd) : 0;
        var caps = capsOf(key);

        // A client's commit far above its estimate, or above the key's daily cap, is not trusted: it waits for an operator.
        if (commit && byClient && settled > BookLimits.HoldAbove(estimate, caps?.DailyMicroUsd))
        {
            return await HoldAsync(connection, transaction, reservationId, key, settled, estimate, cancellationToken);
        }

        // The counters move in one statement that locks them, checks their bound and returns what they held before: on a
        // hot key other transactions wait for these rows, and they wait only for this statement and the commit, never for
        // a round trip in between. A price above its estimate can take settled spend past a cap the reservation fit:
        // recorded now, against the cap in force now, and kept with the counter (as on SQLite: a cap changed later
        // neither invents nor hides one).
        var countOverrun = settled > 0 && caps is not null;
        bool fits;
        Counter daySpend, runSpend;
        await using (var move = Command(connection, transaction, SettleCounters,
            Text(key), Text(day), Text(run), Bigint(estimate), Bigint(settled), Bigint(BookLimits.MaxCounterMicroUsd),
            Bigint(countOverrun ? caps!.Value.DailyMicroUsd : null), Bigint(countOverrun ? caps!.Value.RunMicroUsd : null),
            Text(reservationId), Smallint(commit ? Committed : Released), Bigint(commit ? settled : null), Millis(now)))
        await using (var moved = await move.ExecuteReaderAsync(cancellationToken))
        {
            await moved.ReadAsync(cancellationToken);
            fits = moved.GetBoolean(0);
            daySpend = new Counter(moved.NullableInt64(1) ?? 0, moved.NullableInt64(2) ?? 0);
            runSpend = new Counter(moved.NullableInt64(3) ?? 0, moved.NullableInt64(4) ?? 0);
        }

        if (!fits)
        {
            // A counter would pass its bound: nothing moved. An operator is told; a client's commit is held.
            return byClient
                ? await HoldAsync(connection, transaction, reservationId, key, settled, estimate, cancellationToken)
                : new SettleResult(SettleStatus.TooLarge, key, estimate);
        }

        // What the statement stored, reported when it grew (the locked counters before it, plus what it settled).
        List<SpendOverrun>? overruns = null;
        if (countOverrun && caps is { } limits)
        {
            Overrun(key, "daily", day, daySpend, settled, limits.DailyMicroUsd, ref overruns);
            if (run is not null && limits.RunMicroUsd is { } runCap)
            {
                Overrun(key, "run", "run " + run, runSpend, settled, runCap, ref overruns);
            }
        }

        return new SettleResult(SettleStatus.Settled, key, estimate) { Overruns = overruns };
    }

    // Locks the day counter, then the run counter (the settlement's lock order), checks that neither would pass the bound
    // ($6), and only then moves both and finishes the reservation; returns whether it did, and the counters before it. A
    // counter's overrun grows to what its settled spend now exceeds the cap given ($7, $8; NULL: not counted).
    private const string SettleCounters = """
        WITH d0 AS (SELECT settled, overrun FROM day_counter WHERE key_id = $1 AND day = $2 FOR UPDATE),
        r0 AS (SELECT settled, overrun FROM run_counter WHERE key_id = $1 AND run_id = $3 FOR UPDATE),
        ok AS (
            SELECT 1 AS fits WHERE COALESCE((SELECT settled FROM d0), 0) <= $6 - $5
                AND ($3::text IS NULL OR COALESCE((SELECT settled FROM r0), 0) <= $6 - $5)
        ), d AS (
            UPDATE day_counter c SET reserved = c.reserved - $4, settled = c.settled + $5, overrun = GREATEST(c.overrun, COALESCE(c.settled + $5 - $7, c.overrun))
            WHERE c.key_id = $1 AND c.day = $2 AND EXISTS (SELECT 1 FROM ok)
        ), r AS (
            UPDATE run_counter c SET reserved = c.reserved - $4, settled = c.settled + $5, overrun = GREATEST(c.overrun, COALESCE(c.settled + $5 - $8, c.overrun))
            WHERE c.key_id = $1 AND c.run_id = $3 AND EXISTS (SELECT 1 FROM ok)
        ), f AS (
            UPDATE reservation SET state = $10, actual = $11, finished_at = $12 WHERE reservation_id = $9 AND EXISTS (SELECT 1 FROM ok)
        )
        SELECT EXISTS (SELECT 1 FROM ok), (SELECT settled FROM d0), (SELECT overrun FROM d0), (SELECT settled FROM r0), (SELECT overrun FROM r0)
        """;

    private static async Task<SettleResult> HoldAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string reservationId, string key, long settled, long estimate, CancellationToken cancellationToken)
    {
        await using var hold = Command(connection, transaction, "UPDATE reservation SET state = 3, actual = $2 WHERE reservation_id = $1 AND state = 0", Text(reservationId), Bigint(settled));
        await hold.ExecuteNonQueryAsync(cancellationToken);
        return new SettleResult(SettleStatus.Held, key, estimate);
    }

    /// <summary>The counter's overrun after this settlement, reporting it when it grew.</summary>
    private static long Overrun(string key, string scopeName, string window, Counter before, long settled, long cap, ref List<SpendOverrun>? overruns)
    {
        // The locked counter before this settlement plus what it settled: no second read on the money path.
        var total = before.Settled + settled;
        var over = total - cap;
        if (over <= before.Overrun)
        {
            return before.Overrun;
        }

        (overruns ??= []).Add(new SpendOverrun(key, scopeName, window, cap, total, over, over - before.Overrun));
        return over;
    }

    /// <summary>A counter's settled spend and recorded overrun, as locked.</summary>
    private readonly record struct Counter(long Settled, long Overrun);

    private static async Task<long?> ScalarAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, CancellationToken cancellationToken, params NpgsqlParameter[] parameters)
    {
        await using var command = Command(connection, transaction, sql, parameters);
        return await command.ExecuteScalarAsync(cancellationToken) is long value ? value : null;
    }
}
