using System.Data;
using System.Diagnostics;
using System.Globalization;
using Npgsql;
using NpgsqlTypes;

namespace Keybrake.BudgetService.Load;

/// <summary>
/// The baseline for throughput on PostgreSQL: what the database does for authorize+settle pairs with nothing in
/// between. Concurrent workers (as many as the service has callers) on one pool with the store's settings (statements
/// prepared automatically on each connection), each running pairs back to back: the store's two transactions per
/// pair, READ COMMITTED, with the statements the store runs for a new Authorize that fits (no run id) and a client's
/// commit of it, copied from <c>src/Keybrake.BudgetService/Store/Postgres/PostgresMoneyPath.cs</c>, on a fresh
/// database whose schema the service itself created.
/// </summary>
/// <remarks>
/// Left out, because it is the service's work rather than the database's: gRPC, the credential and scope checks,
/// the policy, the idempotency bookkeeping in memory. The pairs' keys are chosen as the service's callers choose them.
/// </remarks>
internal sealed class RawNpgsqlLoop : IAsyncDisposable
{
    // PostgresMoneyPath.ReserveNewCall, verbatim.
    private const string ReserveNewCall = """
        WITH ins AS (
            INSERT INTO reservation (reservation_id, key_id, run_id, idempotency_key, request_hash, day, estimate, state, created_at)
            SELECT $1, $2, $3, $4, $5, $6, $7, 0, $8
            WHERE NOT EXISTS (SELECT 1 FROM key_state WHERE key_id = $2 AND revoked)
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

    // PostgresMoneyPath.SettleAsync, verbatim: the reservation locked, then the counters locked, checked and moved, and the
    // reservation finished, in one statement.
    private const string FindReservation = "SELECT key_id, run_id, day, estimate, state FROM reservation WHERE reservation_id = $1 AND state IN (0, 3) FOR UPDATE";
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

    /// <summary>BookLimits.MaxCounterMicroUsd.</summary>
    private const long MaxCounterMicroUsd = 1_000_000_000_000_000_000;

    private const long DailyCapMicroUsd = 1_000_000_000L * 1_000_000;

    private readonly NpgsqlDataSource _source;
    private readonly IReadOnlyList<string> _keys;
    private readonly uint _nonce = (uint)Random.Shared.Next();
    private long _sequence;

    public RawNpgsqlLoop(string connectionString, IReadOnlyList<string> keys)
    {
        var builder = new NpgsqlDataSourceBuilder(connectionString);

        // PostgresDatabase sets exactly these.
        builder.ConnectionStringBuilder.MaxAutoPrepare = 64;
        builder.ConnectionStringBuilder.AutoPrepareMinUsages = 1;
        _source = builder.Build();
        _keys = keys;
    }

    /// <summary>Pairs run so far, warm-up included.</summary>
    public long TotalPairs => Interlocked.Read(ref _sequence);

    /// <summary>Runs pairs from <paramref name="workers"/> concurrent workers until <paramref name="duration"/> has passed.</summary>
    public async Task<(long Pairs, long Ticks, Latencies Latencies)> RunAsync(int workers, TimeSpan duration)
    {
        var started = Stopwatch.GetTimestamp();
        var until = started + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var perWorker = await Task.WhenAll(Enumerable.Range(0, workers).Select(_ => Task.Run(async () =>
        {
            var latencies = new List<long>(16 * 1024);
            long now;
            do
            {
                var pairStarted = Stopwatch.GetTimestamp();
                await PairAsync();
                now = Stopwatch.GetTimestamp();
                latencies.Add(now - pairStarted);
            }
            while (now < until);

            return latencies;
        })));
        var ended = Stopwatch.GetTimestamp();
        return (perWorker.Sum(l => (long)l.Count), ended - started, new Latencies(perWorker.SelectMany(l => l)));
    }

    public ValueTask DisposeAsync() => _source.DisposeAsync();

    /// <summary>One Authorize and one commit of it, as the store runs them (PostgresBudgetStore.AuthorizeAsync, then SettleAsync).</summary>
    private async Task PairAsync()
    {
        var sequence = Interlocked.Increment(ref _sequence);
        var key = _keys[(int)(sequence % _keys.Count)];
        var reservationId = ReservationId(sequence);
        var now = DateTimeOffset.UtcNow;
        var day = now.UtcDateTime.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

        await using (var connection = await _source.OpenConnectionAsync())
        await using (var transaction = await connection.BeginTransactionAsync(IsolationLevel.ReadCommitted))
        {
            await using (var reserve = Command(connection, transaction, ReserveNewCall,
                Text(reservationId), Text(key), Text(null), Text(Guid.NewGuid().ToString()), Bytes(LoadService.RequestHash(sequence)), Text(day),
                Bigint(LoadService.EstimateMicroUsd), Bigint(now.ToUnixTimeMilliseconds()), Bigint(DailyCapMicroUsd), Bigint(long.MaxValue)))
            await using (var reader = await reserve.ExecuteReaderAsync())
            {
                await reader.ReadAsync();
                if (reader.GetInt64(0) != 1 || reader.IsDBNull(1))
                {
                    throw new InvalidOperationException("The reservation did not fit.");
                }
            }

            await transaction.CommitAsync();
        }

        await using (var connection = await _source.OpenConnectionAsync())
        await using (var transaction = await connection.BeginTransactionAsync(IsolationLevel.ReadCommitted))
        {
            string foundKey, foundDay;
            long estimate;
            await using (var find = Command(connection, transaction, FindReservation, Text(reservationId)))
            await using (var found = await find.ExecuteReaderAsync())
            {
                if (!await found.ReadAsync())
                {
                    throw new InvalidOperationException("The reservation was not pending.");
                }

                foundKey = found.GetString(0);
                foundDay = found.GetString(2);
                estimate = found.GetInt64(3);
            }

            await using (var move = Command(connection, transaction, SettleCounters,
                Text(foundKey), Text(foundDay), Text(null), Bigint(estimate), Bigint(LoadService.EstimateMicroUsd), Bigint(MaxCounterMicroUsd),
                Bigint(DailyCapMicroUsd), NullBigint(), Text(reservationId), new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Smallint, Value = (short)1 },
                Bigint(LoadService.EstimateMicroUsd), Bigint(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds())))
            await using (var moved = await move.ExecuteReaderAsync())
            {
                await moved.ReadAsync();
                if (!moved.GetBoolean(0))
                {
                    throw new InvalidOperationException("The counters would pass their bound.");
                }
            }

            await transaction.CommitAsync();
        }
    }

    private string ReservationId(long sequence)
    {
        var milliseconds = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() & 0xFFFF_FFFF_FFFF;
        return string.Create(CultureInfo.InvariantCulture, $"rsv_{milliseconds:x12}{_nonce:x8}{sequence & 0xFFFF_FFFF_FFFF:x12}");
    }

    private static NpgsqlCommand Command(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, params NpgsqlParameter[] parameters)
    {
        var command = new NpgsqlCommand(sql, connection, transaction);
        command.Parameters.AddRange(parameters);
        return command;
    }

    private static NpgsqlParameter Text(string? value) => new() { NpgsqlDbType = NpgsqlDbType.Text, Value = (object?)value ?? DBNull.Value };

    private static NpgsqlParameter Bigint(long value) => new() { NpgsqlDbType = NpgsqlDbType.Bigint, Value = value };

    private static NpgsqlParameter NullBigint() => new() { NpgsqlDbType = NpgsqlDbType.Bigint, Value = DBNull.Value };

    private static NpgsqlParameter Bytes(byte[] value) => new() { NpgsqlDbType = NpgsqlDbType.Bytea, Value = value };
}
