using System.Diagnostics;
using System.Globalization;
using Microsoft.Data.Sqlite;

namespace Keybrake.BudgetService.Load;

/// <summary>
/// The baseline for throughput: what SQLite does for one authorize+settle pair with nothing in between. A plain
/// single-threaded loop on one connection, one transaction per pair, running the statements the store runs for
/// a new Authorize that fits (no run id) and a commit, copied from <c>src/Keybrake.BudgetService/Store/Sqlite/SqliteCommands.cs</c>,
/// on a fresh file the service itself created (so the schema and indexes are the service's), with the
/// service's settings: WAL, <c>synchronous=NORMAL</c>, no connection pooling.
/// </summary>
/// <remarks>
/// Left out, because it is the service's machinery rather than the pair's work: the store's batching of many
/// pairs into one transaction (which the loop cannot do: it has one pair at a time, like a service without
/// group commit). The loop's connection checkpoints the log itself, as SQLite does by default; the service's
/// writer leaves that to a connection of its own.
/// </remarks>
internal sealed class RawSqliteLoop : IDisposable
{
    private readonly SqliteConnection _connection;
    private readonly SqliteCommand _keyState;
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
        _keyState = Prepare(
            """
            SELECT (SELECT revoked FROM key_state WHERE key_id = $key),
                   (SELECT settled + reserved FROM day_counter WHERE key_id = $key AND day = $day),
                   (SELECT settled + reserved FROM run_counter WHERE key_id = $key AND run_id = $run)
            """,
            "$key", "$day", "$run");
        _insertReservation = Prepare(
            """
            INSERT INTO reservation (reservation_id, key_id, run_id, idempotency_key, request_hash, day, estimate, state, created_at)
            VALUES ($id, $key, $run, $idem, $hash, $day, $estimate, 0, $now)
            ON CONFLICT (key_id, idempotency_key) DO NOTHING
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
        _all = [_keyState, _insertReservation, _addDayReserved, _finish, _settleDay];
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

        // Authorize: revocation and the day's spend in one read, the cap, the reservation (a new idempotency
        // key: the insert does not conflict, so the store's lookup of an earlier call does not run).
        var now = DateTimeOffset.UtcNow;
        var day = now.UtcDateTime.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        Bind(_keyState, key, day, DBNull.Value);
        long daySpent;
        using (var state = _keyState.ExecuteReader())
        {
            state.Read();
            if (!state.IsDBNull(0) && state.GetInt64(0) != 0)
            {
                throw new InvalidOperationException("The key is revoked.");
            }

            daySpent = state.IsDBNull(1) ? 0 : state.GetInt64(1);
        }

        if (LoadService.EstimateMicroUsd > (1_000_000_000_000L * 1_000_000) - daySpent)
        {
            throw new InvalidOperationException("The daily cap was reached.");
        }

        Bind(_insertReservation, reservationId, key, DBNull.Value, idempotencyKey, requestHash, day, LoadService.EstimateMicroUsd, now.ToUnixTimeMilliseconds());
        if (_insertReservation.ExecuteNonQuery() != 1)
        {
            throw new InvalidOperationException("An idempotency key was reused.");
        }

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
