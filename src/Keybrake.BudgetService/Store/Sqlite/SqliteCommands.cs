using System.Globalization;
using Microsoft.Data.Sqlite;

namespace Keybrake.BudgetService.Store.Sqlite;

/// <summary>
/// The store's statements, prepared once on the worker's connection, and the logic of each operation.
/// Runs only on <see cref="SqliteWorker"/>'s thread, inside its transaction.
/// </summary>
internal sealed class SqliteCommands : IDisposable
{
    private const int Pending = 0;
    private const int Committed = 1;
    private const int Released = 2;

    // A commit the service would not trust (far above its estimate, or past a counter's bound): the reservation
    // keeps counting its estimate, and waits for an operator with the claimed amount in `actual`.
    private const int Held = 3;

    private readonly SqliteConnection _connection;
    private readonly List<SqliteCommand> _all = [];
    private readonly SqliteCommand _isRevoked;
    private readonly SqliteCommand _keyState;
    private readonly SqliteCommand _findCall;
    private readonly SqliteCommand _daySpend;
    private readonly SqliteCommand _runSpend;
    private readonly SqliteCommand _llmRunSpend;
    private readonly SqliteCommand _insertReservation;
    private readonly SqliteCommand _rereserve;
    private readonly SqliteCommand _addDayReserved;
    private readonly SqliteCommand _addRunReserved;
    private readonly SqliteCommand _unfinished;
    private readonly SqliteCommand _finish;
    private readonly SqliteCommand _hold;
    private readonly SqliteCommand _settleDay;
    private readonly SqliteCommand _settleRun;
    private readonly SqliteCommand _dayOverrun;
    private readonly SqliteCommand _runOverrun;
    private readonly SqliteCommand _insertAudit;
    private SqliteTransaction? _transaction;

    /// <summary>Bounds the kept statements: the SQL of <see cref="AdHoc"/> is written in the code, but a few callers build it.</summary>
    private const int MaxReused = 128;
    private readonly Dictionary<string, ReusedCommand> _reused = new(StringComparer.Ordinal);

    public SqliteCommands(SqliteConnection connection)
    {
        _connection = connection;
        _isRevoked = Prepare("SELECT revoked FROM key_state WHERE key_id = $key", "$key");
        _keyState = Prepare(
            """
            SELECT (SELECT revoked FROM key_state WHERE key_id = $key),
                   (SELECT settled + reserved FROM day_counter WHERE key_id = $key AND day = $day),
                   (SELECT settled + reserved FROM run_counter WHERE key_id = $key AND run_id = $run)
            """,
            "$key", "$day", "$run");
        _findCall = Prepare("SELECT reservation_id, request_hash, state FROM reservation WHERE key_id = $key AND idempotency_key = $idem", "$key", "$idem");
        _daySpend = Prepare("SELECT settled, reserved, overrun FROM day_counter WHERE key_id = $key AND day = $day", "$key", "$day");
        _runSpend = Prepare("SELECT settled, reserved, overrun FROM run_counter WHERE key_id = $key AND run_id = $run", "$key", "$run");
        _llmRunSpend = Prepare("SELECT cost FROM llm_run_total WHERE run_id = $run", "$run");
        _insertReservation = Prepare(
            """
            INSERT INTO reservation (reservation_id, key_id, run_id, idempotency_key, request_hash, day, estimate, state, created_at)
            VALUES ($id, $key, $run, $idem, $hash, $day, $estimate, 0, $now)
            ON CONFLICT (key_id, idempotency_key) DO NOTHING
            """,
            "$id", "$key", "$run", "$idem", "$hash", "$day", "$estimate", "$now");
        _rereserve = Prepare(
            """
            UPDATE reservation SET reservation_id = $new, run_id = $run, request_hash = $hash, day = $day, estimate = $estimate, state = 0,
                actual = NULL, created_at = $now, finished_at = NULL
            WHERE reservation_id = $id AND state = 2
            """,
            "$id", "$new", "$run", "$hash", "$day", "$estimate", "$now");
        _addDayReserved = Prepare(
            """
            INSERT INTO day_counter (key_id, day, settled, reserved) VALUES ($key, $day, 0, $amount)
            ON CONFLICT (key_id, day) DO UPDATE SET reserved = reserved + excluded.reserved
            """,
            "$key", "$day", "$amount");
        _addRunReserved = Prepare(
            """
            INSERT INTO run_counter (key_id, run_id, settled, reserved) VALUES ($key, $run, 0, $amount)
            ON CONFLICT (key_id, run_id) DO UPDATE SET reserved = reserved + excluded.reserved
            """,
            "$key", "$run", "$amount");
        _unfinished = Prepare("SELECT key_id, run_id, day, estimate, state FROM reservation WHERE reservation_id = $id AND state IN (0, 3)", "$id");
        _finish = Prepare(
            "UPDATE reservation SET state = $state, actual = $actual, finished_at = $now WHERE reservation_id = $id AND state IN (0, 3)",
            "$id", "$state", "$actual", "$now");
        _hold = Prepare("UPDATE reservation SET state = 3, actual = $actual WHERE reservation_id = $id AND state = 0", "$id", "$actual");
        _settleDay = Prepare(
            "UPDATE day_counter SET reserved = reserved - $estimate, settled = settled + $actual WHERE key_id = $key AND day = $day",
            "$key", "$day", "$estimate", "$actual");
        _settleRun = Prepare(
            "UPDATE run_counter SET reserved = reserved - $estimate, settled = settled + $actual WHERE key_id = $key AND run_id = $run",
            "$key", "$run", "$estimate", "$actual");
        _dayOverrun = Prepare("UPDATE day_counter SET overrun = $overrun WHERE key_id = $key AND day = $day", "$key", "$day", "$overrun");
        _runOverrun = Prepare("UPDATE run_counter SET overrun = $overrun WHERE key_id = $key AND run_id = $run", "$key", "$run", "$overrun");
        _insertAudit = Prepare(
            """
            INSERT INTO audit_record (record_id, received_at, timestamp, key_id, vendor, run_id, decision, reason, record, client_id, host)
            VALUES ($id, $received, $timestamp, $key, $vendor, $run, $decision, $reason, $record, $client, $host)
            ON CONFLICT (record_id) DO NOTHING
            """,
            "$id", "$received", "$timestamp", "$key", "$vendor", "$run", "$decision", "$reason", "$record", "$client", "$host");
    }

    /// <summary>The transaction the prepared commands run in.</summary>
    public SqliteTransaction? Transaction
    {
        set
        {
            _transaction = value;
            foreach (var command in _all)
            {
                command.Transaction = value;
            }
        }
    }

    /// <summary>
    /// Checks revocation and reserves. The common case, a new call that fits, costs one read (revocation and
    /// both counters in one statement), the reservation insert and the counter upserts; the idempotency lookup
    /// runs only when the insert finds the key taken, or when the call does not fit (a retry of an earlier
    /// call gets its earlier answer even when the day is now full).
    /// </summary>
    public AuthorizeOutcome Authorize(AuthorizeCommand command)
    {
        var day = DayText(command.Day);
        Bind(_keyState, command.KeyId, day, (object?)command.RunId ?? DBNull.Value);
        long daySpent, runSpent;
        using (var state = _keyState.ExecuteReader())
        {
            state.Read();
            if (!state.IsDBNull(0) && state.GetInt64(0) != 0)
            {
                return new AuthorizeOutcome(AuthorizeStatus.Revoked, null, 0, 0);
            }

            daySpent = state.IsDBNull(1) ? 0 : state.GetInt64(1);
            runSpent = state.IsDBNull(2) ? 0 : state.GetInt64(2);
        }

        // A run cap that includes LLM spend counts the run's reported tokens too; only such a key pays this read.
        var llmSpent = command.RunCapIncludesLlm && command.RunId is { } llmRun && command.RunCapMicroUsd is not null ? LlmRunSpent(llmRun) : 0;
        var status = command.EstimateMicroUsd > command.DailyCapMicroUsd - daySpent ? AuthorizeStatus.DailyCapExceeded
            : command.RunId is not null && command.RunCapMicroUsd is { } runCap && command.EstimateMicroUsd > runCap - llmSpent - runSpent ? AuthorizeStatus.RunCapExceeded
            : AuthorizeStatus.Reserved;
        var reservationId = command.ReservationId;
        var now = command.Now.ToUnixTimeMilliseconds();
        var hash = HashBytes(command.RequestHash);
        if (status == AuthorizeStatus.Reserved)
        {
            Bind(_insertReservation, reservationId, command.KeyId, (object?)command.RunId ?? DBNull.Value, command.IdempotencyKey, hash, day, command.EstimateMicroUsd, now);
            if (_insertReservation.ExecuteNonQuery() == 1)
            {
                return Reserve(command, day, daySpent, runSpent) with { LlmSpentMicroUsd = llmSpent };
            }
        }

        // The idempotency key is taken (or the call does not fit): a retry gets the earlier call's answer.
        string? releasedId = null;
        Bind(_findCall, command.KeyId, command.IdempotencyKey);
        using (var call = _findCall.ExecuteReader())
        {
            if (call.Read())
            {
                var id = call.GetString(0);
                var state = call.GetInt32(2);
                if (!((byte[])call.GetValue(1)).AsSpan().SequenceEqual(hash))
                {
                    return new AuthorizeOutcome(AuthorizeStatus.IdempotencyKeyReused, id, daySpent, 0);
                }

                if (state is Pending or Held)
                {
                    return new AuthorizeOutcome(AuthorizeStatus.ReusedPending, id, daySpent, 0);
                }

                if (state == Committed)
                {
                    return new AuthorizeOutcome(AuthorizeStatus.ReusedSettled, id, daySpent, 0);
                }

                releasedId = id; // the vendor refused it: it reserves again
            }
        }

        if (status == AuthorizeStatus.DailyCapExceeded)
        {
            return new AuthorizeOutcome(status, null, daySpent, 0);
        }

        if (status == AuthorizeStatus.RunCapExceeded)
        {
            return new AuthorizeOutcome(status, null, daySpent, runSpent) { LlmSpentMicroUsd = llmSpent };
        }

        // A released call tried again gets a new reservation id: settling is idempotent by reservation id, so a
        // late duplicate of the release must find nothing to release rather than the call now in flight.
        if (releasedId is null)
        {
            throw new InvalidOperationException("The reservation insert conflicted, but no reservation holds its idempotency key.");
        }

        Bind(_rereserve, releasedId, reservationId, (object?)command.RunId ?? DBNull.Value, hash, day, command.EstimateMicroUsd, now);
        _rereserve.ExecuteNonQuery();
        return Reserve(command, day, daySpent, runSpent) with { LlmSpentMicroUsd = llmSpent };
    }

    private long LlmRunSpent(string runId)
    {
        Bind(_llmRunSpend, runId);
        return _llmRunSpend.ExecuteScalar() is long cost ? cost : 0;
    }

    private AuthorizeOutcome Reserve(AuthorizeCommand command, string day, long daySpent, long runSpent)
    {
        Bind(_addDayReserved, command.KeyId, day, command.EstimateMicroUsd);
        _addDayReserved.ExecuteNonQuery();
        if (command.RunId is { } run)
        {
            Bind(_addRunReserved, command.KeyId, run, command.EstimateMicroUsd);
            _addRunReserved.ExecuteNonQuery();
        }

        return new AuthorizeOutcome(AuthorizeStatus.Reserved, command.ReservationId, daySpent + command.EstimateMicroUsd, runSpent + command.EstimateMicroUsd);
    }

    /// <summary>
    /// Finishes one reservation and moves its counters, if it was made for a key <paramref name="mayTouch"/> accepts
    /// (a client may settle only its own keys' reservations; an operator passes null). A client's commit
    /// (<paramref name="byClient"/>) finishes only a pending reservation, and is held instead when it claims
    /// more than <see cref="BookLimits.HoldAbove"/> allows or would take a counter past
    /// <see cref="BookLimits.MaxCounterMicroUsd"/>. An operator's resolution also finishes a held one, and is refused
    /// (<see cref="SettleStatus.TooLarge"/>) only when a counter would pass its bound. A commit that takes the day's or
    /// the run's settled spend past the cap <paramref name="capsOf"/> gives now records the overrun with the counter.
    /// </summary>
    public SettleResult Settle(string reservationId, bool commit, long actual, DateTimeOffset now, Func<string, KeyCaps?> capsOf, bool byClient, Func<string, bool>? mayTouch = null)
    {
        Bind(_unfinished, reservationId);
        string key, day;
        string? run;
        long estimate;
        using (var found = _unfinished.ExecuteReader())
        {
            if (!found.Read() || (found.GetInt32(4) == Held && byClient))
            {
                return new SettleResult(SettleStatus.NotPending, null, 0);
            }

            key = found.GetString(0);
            if (mayTouch is not null && !mayTouch(key))
            {
                return new SettleResult(SettleStatus.OutOfScope, key, 0);
            }

            run = found.IsDBNull(1) ? null : found.GetString(1);
            day = found.GetString(2);
            estimate = found.GetInt64(3);
        }

        var settled = commit ? Math.Clamp(actual, 0, BookLimits.MaxAmountMicroUsd) : 0;
        var caps = capsOf(key);
        StoredSpend? daySpend = null, runSpend = null;
        if (commit)
        {
            daySpend = Counters(_daySpend, key, day);
            runSpend = run is null ? null : Counters(_runSpend, key, run);
            var tooLarge = settled > BookLimits.MaxCounterMicroUsd - daySpend.SettledMicroUsd
                || (runSpend is not null && settled > BookLimits.MaxCounterMicroUsd - runSpend.SettledMicroUsd);
            if (!byClient && tooLarge)
            {
                return new SettleResult(SettleStatus.TooLarge, key, estimate);
            }

            if (byClient && (tooLarge || settled > BookLimits.HoldAbove(estimate, caps?.DailyMicroUsd)))
            {
                Bind(_hold, reservationId, settled);
                _hold.ExecuteNonQuery();
                return new SettleResult(SettleStatus.Held, key, estimate);
            }
        }

        Bind(_finish, reservationId, commit ? Committed : Released, commit ? settled : DBNull.Value, now.ToUnixTimeMilliseconds());
        _finish.ExecuteNonQuery();
        Bind(_settleDay, key, day, estimate, settled);
        _settleDay.ExecuteNonQuery();
        if (run is not null)
        {
            Bind(_settleRun, key, run, estimate, settled);
            _settleRun.ExecuteNonQuery();
        }

        // A price above its estimate can take settled spend past a cap the reservation fit. Recorded now, against
        // the cap in force now, and kept with the counter: recomputing it against the cap when an operator asks
        // would let a cap lowered later invent an overrun that never happened (and a raised one hide one that did).
        List<SpendOverrun>? overruns = null;
        if (settled > 0 && caps is { } limits)
        {
            RecordOverrun(_dayOverrun, key, day, "daily", day, daySpend!, settled, limits.DailyMicroUsd, ref overruns);
            if (run is not null && limits.RunMicroUsd is { } runCap)
            {
                RecordOverrun(_runOverrun, key, run, "run", "run " + run, runSpend!, settled, runCap, ref overruns);
            }
        }

        return new SettleResult(SettleStatus.Settled, key, estimate) { Overruns = overruns };
    }

    private static void RecordOverrun(SqliteCommand update, string key, string scope, string scopeName, string window, StoredSpend before, long settled, long cap, ref List<SpendOverrun>? overruns)
    {
        // The counter before this settlement plus what it settled: no second read on the money path.
        var total = before.SettledMicroUsd + settled;
        var over = total - cap;
        if (over <= before.OverrunMicroUsd)
        {
            return;
        }

        Bind(update, key, scope, over);
        update.ExecuteNonQuery();
        (overruns ??= []).Add(new SpendOverrun(key, scopeName, window, cap, total, over, over - before.OverrunMicroUsd));
    }

    public bool IsRevoked(string keyId)
    {
        Bind(_isRevoked, keyId);
        return _isRevoked.ExecuteScalar() is long revoked && revoked != 0;
    }

    public bool AppendAudit(StoredAuditRecord record, DateTimeOffset now)
    {
        Bind(_insertAudit, record.RecordId, now.ToUnixTimeMilliseconds(), record.Timestamp.ToUnixTimeMilliseconds(), record.KeyId, record.Vendor,
            (object?)record.RunId ?? DBNull.Value, record.Decision, (object?)record.Reason ?? DBNull.Value, record.Json, record.ClientId,
            (object?)record.Host ?? DBNull.Value);
        return _insertAudit.ExecuteNonQuery() == 1;
    }

    public StoredSpend DaySpend(string keyId, DateOnly day) => Counters(_daySpend, keyId, DayText(day));

    public StoredSpend RunSpend(string keyId, string runId) => Counters(_runSpend, keyId, runId);

    /// <summary>
    /// A statement in the current transaction, for the operations without a field of their own; dispose it. The
    /// command is kept by its SQL and handed out again once disposed (<see cref="ReusedCommand"/>), so SQLite compiles
    /// each statement once per connection rather than once per run: a leased call runs five of them, and compiling
    /// cost more than running them. A statement still in use (a nested use of the same SQL) gets a fresh command.
    /// </summary>
    public SqliteCommand AdHoc(string sql, params (string Name, object? Value)[] parameters)
    {
        SqliteCommand command;
        if (_reused.TryGetValue(sql, out var reused) && !reused.InUse)
        {
            reused.InUse = true;
            reused.Parameters.Clear();
            command = reused;
        }
        else if (reused is null && _reused.Count < MaxReused)
        {
            reused = new ReusedCommand(sql, _connection) { InUse = true };
            _reused.Add(sql, reused);
            command = reused;
        }
        else
        {
            command = new SqliteCommand(sql, _connection);
        }

        command.Transaction = _transaction;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }

        return command;
    }

    public void Dispose()
    {
        foreach (var command in _all)
        {
            command.Dispose();
        }

        foreach (var command in _reused.Values)
        {
            command.Release();
        }
    }

    internal static string DayText(DateOnly day) => day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

    internal static byte[] HashBytes(UInt128 hash)
    {
        var bytes = new byte[16];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt128LittleEndian(bytes, hash);
        return bytes;
    }

    private static StoredSpend Counters(SqliteCommand command, string keyId, string scope)
    {
        Bind(command, keyId, scope);
        using var reader = command.ExecuteReader();
        return reader.Read() ? new StoredSpend(reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2)) : new StoredSpend(0, 0);
    }

    private static void Bind(SqliteCommand command, params object?[] values)
    {
        for (var i = 0; i < values.Length; i++)
        {
            command.Parameters[i].Value = values[i] ?? DBNull.Value;
        }
    }

    private SqliteCommand Prepare(string sql, params string[] parameters)
    {
        var command = _connection.CreateCommand();
        command.CommandText = sql;
        foreach (var name in parameters)
        {
            command.Parameters.Add(new SqliteParameter { ParameterName = name });
        }

        _all.Add(command);
        return command;
    }
}
