using System.Diagnostics;
using System.Globalization;
using Microsoft.Data.Sqlite;

namespace Keybrake.BudgetService.Load;

/// <summary>
/// The baseline for throughput: what SQLite does for one authorize+settle pair with nothing in between. A plain
/// single-threaded loop on one connection, one transaction per pair, running the statements the store runs for
/// an Authorize (no run id) and a commit, copied from <c>src/Keybrake.BudgetService/Store/Sqlite/SqliteCommands.cs</c>,
/// on a fresh file the service itself created (so the schema and indexes are the service's), with the
/// service's settings: WAL, <c>synchronous=NORMAL</c>, no connection pooling.
/// </summary>
/// <remarks>
/// Left out, because they are the service's machinery rather than the pair's work: the per-operation
/// <c>SAVEPOINT</c>/<c>RELEASE</c> the store's worker wraps each operation in, and its batching of many pairs
/// into one transaction (which the loop cannot do: it has one pair at a time, like a service without group commit).
/// </remarks>
internal sealed class RawSqliteLoop : IDisposable
{
    private readonly SqliteConnection _connection;
    private readonly SqliteCommand _isRevoked;
    private readonly SqliteCommand _findCall;
    private readonly SqliteCommand _daySpend;
    private readonly SqliteCommand _insertReservation;
    private readonly SqliteCommand _addDayReserved;
    private readonly SqliteCommand _finish;
    private readonly SqliteCommand _settleDay;
    private readonly SqliteCommand[] _all;
    private readonly uint _nonce = (uint)Random.Shared.Next();
    private long _sequence;

    public RawSqliteLoop(string path)
    {
        _connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWrite,
            Pooling = false,
        }.ToString());
        _connection.Open();
        using (var pragmas = _connection.CreateCommand())
        {
            // SqliteBudgetStore.MigrateAsync sets exactly these.
            pragmas.CommandText = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;";
            pragmas.ExecuteNonQuery();
        }

        // The statements of SqliteCommands, verbatim.
        _isRevoked = Prepare("SELECT revoked FROM key_state WHERE key_id = $key", "$key");
        _findCall = Prepare("SELECT reservation_id, request_hash, state FROM reservation WHERE key_id = $key AND idempotency_key = $idem", "$key", "$idem");
        _daySpend = Prepare("SELECT settled, reserved FROM day_counter WHERE key_id = $key AND day = $day", "$key", "$day");
        _insertReservation = Prepare(
            """
            INSERT INTO reservation (reservation_id, key_id, run_id, idempotency_key, request_hash, day, estimate, state, created_at)
            VALUES ($id, $key, $run, $idem, $hash, $day, $estimate, 0, $now)
            """,
            "$id", "$key", "$run", "$idem", "$hash", "$day", "$estimate", "$now");
        _addDayReserved = Prepare(
            """
            INSERT INTO day_counter (key_id, day, settled, reserved) VALUES ($key, $day, 0, $amount)
            ON CONFLICT (key_id, day) DO UPDATE SET reserved = reserved + excluded.reserved
            """,
            "$key", "$day", "$amount");
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
        _all = [_isRevoked, _findCall, _daySpend, _insertReservation, _addDayReserved, _finish, _settleDay];
    }

    /// <summary>Pairs run so far, warm-up included.</summary>
    public long TotalPairs => _sequence;

    /// <summary>Runs pairs until <paramref name="duration"/> has passed; returns how many and the ticks they took.</summary>
    public (long Pairs, long Ticks) Run(TimeSpan duration)
    {
        var started = Stopwatch.GetTimestamp();
        var until = started + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        long pairs = 0;
        long now;
        do
        {
            Pair();
            pairs++;
            now = Stopwatch.GetTimestamp();
        }
        while (now < until);

        return (pairs, now - started);
    }

    /// <summary>The day counter after the run: every pair committed USD 20.00 and left nothing reserved.</summary>
    public (long Settled, long Reserved) DayCounter()
    {
        using var read = _connection.CreateCommand();
        read.CommandText = "SELECT COALESCE(SUM(settled), 0), COALESCE(SUM(reserved), 0) FROM day_counter WHERE key_id = $key";
        read.Parameters.AddWithValue("$key", LoadService.KeyId);
        using var reader = read.ExecuteReader();
        reader.Read();
        return (reader.GetInt64(0), reader.GetInt64(1));
    }

    public void Dispose()
    {
        foreach (var command in _all)
        {
            command.Dispose();
        }

        _connection.Dispose();
    }

    /// <summary>One Authorize and one commit of it, in one transaction, as the store's worker runs them (SqliteCommands.Authorize, then Settle).</summary>
    private void Pair()
    {
        var sequence = ++_sequence;
        const string key = LoadService.KeyId;
        var idempotencyKey = Guid.NewGuid().ToString();
        var requestHash = LoadService.RequestHash(sequence);
        var reservationId = ReservationId(sequence);

        using var transaction = _connection.BeginTransaction(deferred: false);
        foreach (var command in _all)
        {
            command.Transaction = transaction;
        }

        // Authorize: revocation, the idempotency lookup, the day's spend against the cap, the reservation.
        var now = DateTimeOffset.UtcNow;
        var day = now.UtcDateTime.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        Bind(_isRevoked, key);
        if (_isRevoked.ExecuteScalar() is long revoked && revoked != 0)
        {
            throw new InvalidOperationException("The key is revoked.");
        }

        Bind(_findCall, key, idempotencyKey);
        using (var call = _findCall.ExecuteReader())
        {
            if (call.Read())
            {
                throw new InvalidOperationException("An idempotency key was reused.");
            }
        }

        Bind(_daySpend, key, day);
        long daySpent;
        using (var spend = _daySpend.ExecuteReader())
        {
            daySpent = spend.Read() ? spend.GetInt64(0) + spend.GetInt64(1) : 0;
        }

        if (LoadService.EstimateMicroUsd > (1_000_000_000_000L * 1_000_000) - daySpent)
        {
            throw new InvalidOperationException("The daily cap was reached.");
        }

        Bind(_insertReservation, reservationId, key, DBNull.Value, idempotencyKey, requestHash, day, LoadService.EstimateMicroUsd, now.ToUnixTimeMilliseconds());
        _insertReservation.ExecuteNonQuery();
        Bind(_addDayReserved, key, day, LoadService.EstimateMicroUsd);
        _addDayReserved.ExecuteNonQuery();

        // Settle: finish the reservation and move its estimate from reserved to settled.
        var settledAt = DateTimeOffset.UtcNow;
        Bind(_finish, reservationId, 1, LoadService.EstimateMicroUsd, settledAt.ToUnixTimeMilliseconds());
        string finishedKey, finishedDay;
        long estimate;
        using (var finished = _finish.ExecuteReader())
        {
            if (!finished.Read())
            {
                throw new InvalidOperationException("The reservation was not pending.");
            }

            finishedKey = finished.GetString(0);
            _ = finished.IsDBNull(1) ? null : finished.GetString(1);
            finishedDay = finished.GetString(2);
            estimate = finished.GetInt64(3);
        }

        Bind(_settleDay, finishedKey, finishedDay, estimate, LoadService.EstimateMicroUsd);
        _settleDay.ExecuteNonQuery();

        transaction.Commit();
    }

    /// <summary>An id shaped like the service's (IdGenerator): a prefix, then Unix milliseconds, a nonce and a counter in 32 hex digits.</summary>
    private string ReservationId(long sequence)
    {
        var milliseconds = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() & 0xFFFF_FFFF_FFFF;
        return string.Create(CultureInfo.InvariantCulture, $"rsv_{milliseconds:x12}{_nonce:x8}{sequence & 0xFFFF_FFFF_FFFF:x12}");
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

        return command;
    }
}
