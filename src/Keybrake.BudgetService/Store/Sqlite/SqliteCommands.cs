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
    private readonly SqliteCommand _savepoint;
    private readonly SqliteCommand _release;
    private readonly SqliteCommand _rollback;
    private readonly SqliteCommand _isRevoked;
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
        _savepoint = Prepare("SAVEPOINT operation");
        _release = Prepare("RELEASE operation");
        _rollback = Prepare("ROLLBACK TO operation");
        _isRevoked = Prepare("SELECT revoked FROM key_state WHERE key_id = $key", "$key");
        _findCall = Prepare("SELECT reservation_id, request_hash, state FROM reservation WHERE key_id = $key AND idempotency_key = $idem", "$key", "$idem");
        _daySpend = Prepare("SELECT settled, reserved FROM day_counter WHERE key_id = $key AND day = $day", "$key", "$day");
        _runSpend = Prepare("SELECT settled, reserved FROM run_counter WHERE key_id = $key AND run_id = $run", "$key", "$run");
        _insertReservation = Prepare(
            """
            INSERT INTO reservation (reservation_id, key_id, run_id, idempotency_key, request_hash, day, estimate, state, created_at)
            VALUES ($id, $key, $run, $idem, $hash, $day, $estimate, 0, $now)
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
            INSERT INTO audit_record (record_id, received_at, timestamp, key_id, vendor, run_id, decision, reason, record)
            VALUES ($id, $received, $timestamp, $key, $vendor, $run, $decision, $reason, $record)
            ON CONFLICT (record_id) DO NOTHING
            """,
            "$id", "$received", "$timestamp", "$key", "$vendor", "$run", "$decision", "$reason", "$record");
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

    public void Savepoint() => _savepoint.ExecuteNonQuery();

    public void ReleaseSavepoint() => _release.ExecuteNonQuery();

    public void RollbackToSavepoint()
    {
        _rollback.ExecuteNonQuery();
        _release.ExecuteNonQuery();
    }

    public AuthorizeOutcome Authorize(AuthorizeCommand command)
    {
        var day = DayText(command.Day);
        if (IsRevoked(command.KeyId))
        {
            return new AuthorizeOutcome(AuthorizeStatus.Revoked, null, 0, 0);
        }

        // Every allowed answer reports what the day has left, a retry's as much as a new call's.
        var daySpent = Spend(_daySpend, command.KeyId, day);
        string? releasedId = null;
        Bind(_findCall, command.KeyId, command.IdempotencyKey);
        using (var call = _findCall.ExecuteReader())
        {
            if (call.Read())
            {
                var id = call.GetString(0);
                var hash = (byte[])call.GetValue(1);
                var state = call.GetInt32(2);
                if (!hash.AsSpan().SequenceEqual(HashBytes(command.RequestHash)))
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

        if (command.EstimateMicroUsd > command.DailyCapMicroUsd - daySpent)
        {
            return new AuthorizeOutcome(AuthorizeStatus.DailyCapExceeded, null, daySpent, 0);
        }

        long runSpent = 0;
        if (command.RunId is { } runId)
        {
            runSpent = Spend(_runSpend, command.KeyId, runId);
            if (command.RunCapMicroUsd is { } runCap && command.EstimateMicroUsd > runCap - runSpent)
            {
                return new AuthorizeOutcome(AuthorizeStatus.RunCapExceeded, null, daySpent, runSpent);
            }
        }

        // A released call tried again gets a new reservation id: settling is idempotent by reservation id, so a
        // late duplicate of the release must find nothing to release rather than the call now in flight.
        var reservationId = command.ReservationId;
        var now = command.Now.ToUnixTimeMilliseconds();
        if (releasedId is null)
        {
            Bind(_insertReservation, reservationId, command.KeyId, (object?)command.RunId ?? DBNull.Value, command.IdempotencyKey, HashBytes(command.RequestHash), day, command.EstimateMicroUsd, now);
            _insertReservation.ExecuteNonQuery();
        }
        else
        {
            Bind(_rereserve, releasedId, reservationId, (object?)command.RunId ?? DBNull.Value, HashBytes(command.RequestHash), day, command.EstimateMicroUsd, now);
            _rereserve.ExecuteNonQuery();
        }

        Bind(_addDayReserved, command.KeyId, day, command.EstimateMicroUsd);
        _addDayReserved.ExecuteNonQuery();
        if (command.RunId is { } run)
        {
            Bind(_addRunReserved, command.KeyId, run, command.EstimateMicroUsd);
            _addRunReserved.ExecuteNonQuery();
        }

        return new AuthorizeOutcome(AuthorizeStatus.Reserved, reservationId, daySpent + command.EstimateMicroUsd, runSpent + command.EstimateMicroUsd);
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
            (object?)record.RunId ?? DBNull.Value, record.Decision, (object?)record.Reason ?? DBNull.Value, record.Json);
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

    private static long Spend(SqliteCommand command, string keyId, string scope)
    {
        var spend = Counters(command, keyId, scope);
        return spend.SettledMicroUsd + spend.ReservedMicroUsd;
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
