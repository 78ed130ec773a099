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

    private readonly SqliteConnection _connection;
    private readonly List<SqliteCommand> _all = [];
    private readonly SqliteCommand _isRevoked;
    private readonly SqliteCommand _keyState;
    private readonly SqliteCommand _findCall;
    private readonly SqliteCommand _daySpend;
    private readonly SqliteCommand _runSpend;
    private readonly SqliteCommand _insertReservation;
    private readonly SqliteCommand _rereserve;
    private readonly SqliteCommand _addDayReserved;
    private readonly SqliteCommand _addRunReserved;
    private readonly SqliteCommand _finish;
    private readonly SqliteCommand _settleDay;
    private readonly SqliteCommand _settleRun;
    private readonly SqliteCommand _insertAudit;
    private SqliteTransaction? _transaction;

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
        _daySpend = Prepare("SELECT settled, reserved FROM day_counter WHERE key_id = $key AND day = $day", "$key", "$day");
        _runSpend = Prepare("SELECT settled, reserved FROM run_counter WHERE key_id = $key AND run_id = $run", "$key", "$run");
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
        _finish = Prepare(
            """
            UPDATE reservation SET state = $state, actual = $actual, finished_at = $now
            WHERE reservation_id = $id AND state = 0
            RETURNING key_id, run_id, day, estimate
            """,
            "$id", "$state", "$actual", "$now");
        _settleDay = Prepare(
            "UPDATE day_counter SET reserved = reserved - $estimate, settled = settled + $actual WHERE key_id = $key AND day = $day",
            "$key", "$day", "$estimate", "$actual");
        _settleRun = Prepare(
            "UPDATE run_counter SET reserved = reserved - $estimate, settled = settled + $actual WHERE key_id = $key AND run_id = $run",
            "$key", "$run", "$estimate", "$actual");
        _insertAudit = Prepare(
            """
            INSERT INTO audit_record (record_id, received_at, timestamp, key_id, vendor, run_id, decision, reason, record, host)
            VALUES ($id, $received, $timestamp, $key, $vendor, $run, $decision, $reason, $record, $host)
            ON CONFLICT (record_id) DO NOTHING
            """,
            "$id", "$received", "$timestamp", "$key", "$vendor", "$run", "$decision", "$reason", "$record", "$host");
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

        var status = command.EstimateMicroUsd > command.DailyCapMicroUsd - daySpent ? AuthorizeStatus.DailyCapExceeded
            : command.RunId is not null && command.RunCapMicroUsd is { } runCap && command.EstimateMicroUsd > runCap - runSpent ? AuthorizeStatus.RunCapExceeded
            : AuthorizeStatus.Reserved;
        var reservationId = command.ReservationId;
        var now = command.Now.ToUnixTimeMilliseconds();
        var hash = HashBytes(command.RequestHash);
        if (status == AuthorizeStatus.Reserved)
        {
            Bind(_insertReservation, reservationId, command.KeyId, (object?)command.RunId ?? DBNull.Value, command.IdempotencyKey, hash, day, command.EstimateMicroUsd, now);
            if (_insertReservation.ExecuteNonQuery() == 1)
            {
                return Reserve(command, day, daySpent, runSpent);
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

                if (state == Pending)
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
            return new AuthorizeOutcome(status, null, daySpent, runSpent);
        }

        // A released call tried again gets a new reservation id: settling is idempotent by reservation id, so a
        // late duplicate of the release must find nothing to release rather than the call now in flight.
        if (releasedId is null)
        {
            throw new InvalidOperationException("The reservation insert conflicted, but no reservation holds its idempotency key.");
        }

        Bind(_rereserve, releasedId, reservationId, (object?)command.RunId ?? DBNull.Value, hash, day, command.EstimateMicroUsd, now);
        _rereserve.ExecuteNonQuery();
        return Reserve(command, day, daySpent, runSpent);
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

    /// <summary>Finishes one pending reservation and moves its counters; false when it was not pending.</summary>
    public bool Settle(string reservationId, bool commit, long actual, DateTimeOffset now)
    {
        var settled = commit ? Math.Max(0, actual) : 0;
        Bind(_finish, reservationId, commit ? Committed : Released, commit ? settled : DBNull.Value, now.ToUnixTimeMilliseconds());
        string key, day;
        string? run;
        long estimate;
        using (var finished = _finish.ExecuteReader())
        {
            if (!finished.Read())
            {
                return false;
            }

            key = finished.GetString(0);
            run = finished.IsDBNull(1) ? null : finished.GetString(1);
            day = finished.GetString(2);
            estimate = finished.GetInt64(3);
        }

        Bind(_settleDay, key, day, estimate, settled);
        _settleDay.ExecuteNonQuery();
        if (run is not null)
        {
            Bind(_settleRun, key, run, estimate, settled);
            _settleRun.ExecuteNonQuery();
        }

        return true;
    }

    public bool IsRevoked(string keyId)
    {
        Bind(_isRevoked, keyId);
        return _isRevoked.ExecuteScalar() is long revoked && revoked != 0;
    }

    public bool AppendAudit(StoredAuditRecord record, DateTimeOffset now)
    {
        Bind(_insertAudit, record.RecordId, now.ToUnixTimeMilliseconds(), record.Timestamp.ToUnixTimeMilliseconds(), record.KeyId, record.Vendor,
            (object?)record.RunId ?? DBNull.Value, record.Decision, (object?)record.Reason ?? DBNull.Value, record.Json,
            (object?)record.Host ?? DBNull.Value);
        return _insertAudit.ExecuteNonQuery() == 1;
    }

    public StoredSpend DaySpend(string keyId, DateOnly day) => Counters(_daySpend, keyId, DayText(day));

    public StoredSpend RunSpend(string keyId, string runId) => Counters(_runSpend, keyId, runId);

    /// <summary>A one-off statement in the current transaction, for the rarer operations; dispose it.</summary>
    public SqliteCommand AdHoc(string sql, params (string Name, object? Value)[] parameters)
    {
        var command = _connection.CreateCommand();
        command.Transaction = _transaction;
        command.CommandText = sql;
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
        return reader.Read() ? new StoredSpend(reader.GetInt64(0), reader.GetInt64(1)) : new StoredSpend(0, 0);
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
