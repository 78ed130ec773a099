using System.Globalization;
using Keybrake.BudgetService.Store.Postgres;
using static Keybrake.BudgetService.Store.Postgres.PostgresSql;

namespace Keybrake.BudgetService.Replicas;

/// <summary>
/// Periodic work that must run once per cluster, not once per replica (pruning): a replica runs it only when this says
/// it is its turn for the cycle.
/// </summary>
internal interface IClusterDuties
{
    /// <summary>Runs <paramref name="work"/> when no other replica runs this duty now or ran it this cycle; <see langword="true"/> when it ran here.</summary>
    Task<bool> TryRunAsync(string duty, TimeSpan cycle, Func<CancellationToken, Task> work, CancellationToken cancellationToken);
}

/// <summary>One process on its own store (SQLite): every duty is its own.</summary>
internal sealed class SingleProcessDuties : IClusterDuties
{
    public async Task<bool> TryRunAsync(string duty, TimeSpan cycle, Func<CancellationToken, Task> work, CancellationToken cancellationToken)
    {
        await work(cancellationToken);
        return true;
    }
}

/// <summary>
/// Replicas on PostgreSQL: the duty runs under a session advisory lock (<c>pg_try_advisory_lock</c>: a replica that
/// finds it taken skips, never waits), and the cycle is claimed in <c>duty_claim</c> (key <c>*</c>, which no key id can
/// be) until 90% of the cycle has passed, so that the replicas' timers, which tick at different moments, run it once
/// per cycle between them. A replica that dies holding it frees the lock with its session; the next cycle is anyone's.
/// </summary>
internal sealed class PostgresClusterDuties : IClusterDuties
{
    /// <summary>The claim's key: not a key id (they never contain '*').</summary>
    private const string ClusterKey = "*";

    /// <summary>The advisory lock keys of duties: this constant plus a number per duty (the migration lock is another).</summary>
    private const long DutyLockBase = 0x4B42_4455_5459_0000; // "KBDUTY"

    private readonly PostgresDatabase _database;
    private readonly TimeProvider _time;
    private readonly ILogger<PostgresClusterDuties> _logger;

    public PostgresClusterDuties(PostgresDatabase database, TimeProvider time, ILogger<PostgresClusterDuties> logger)
    {
        _database = database;
        _time = time;
        _logger = logger;
    }

    public async Task<bool> TryRunAsync(string duty, TimeSpan cycle, Func<CancellationToken, Task> work, CancellationToken cancellationToken)
    {
        await using var connection = await _database.DataSource.OpenConnectionAsync(cancellationToken);
        var lockKey = (DutyLockBase + (StableHash(duty) & 0xFFFF)).ToString(CultureInfo.InvariantCulture);
        await using (var take = Command(connection, null, $"SELECT pg_try_advisory_lock({lockKey})"))
        {
            if (await take.ExecuteScalarAsync(cancellationToken) is not true)
            {
                Log.ClusterDutySkipped(_logger, duty, "running now elsewhere");
                return false;
            }
        }

        try
        {
            var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
            string holder;
            await using (var claim = Command(connection, null,
                """
                INSERT INTO duty_claim (key_id, duty, holder, expires_at) VALUES ($1, $2, $3, $4)
                ON CONFLICT (key_id, duty) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
                WHERE duty_claim.expires_at <= $5
                RETURNING holder
                """,
                Text(ClusterKey), Text(duty), Text(_database.ReplicaName), Bigint(now + (long)(cycle.TotalMilliseconds * 0.9)), Bigint(now)))
            {
                holder = await claim.ExecuteScalarAsync(cancellationToken) as string ?? string.Empty;
            }

            if (holder != _database.ReplicaName)
            {
                await using var read = Command(connection, null, "SELECT holder FROM duty_claim WHERE key_id = $1 AND duty = $2", Text(ClusterKey), Text(duty));
                Log.ClusterDutySkipped(_logger, duty, $"{await read.ExecuteScalarAsync(cancellationToken)} ran it this cycle");
                return false;
            }

            Log.ClusterDutyRuns(_logger, duty, _database.ReplicaName);
            await work(cancellationToken);
            return true;
        }
        finally
        {
            // Also released when the session ends; a pooled connection would keep it, so it is given back here.
            try
            {
                await using var release = Command(connection, null, $"SELECT pg_advisory_unlock({lockKey})");
                await release.ExecuteScalarAsync(CancellationToken.None);
            }
            catch (Npgsql.NpgsqlException)
            {
                // the session is gone, and its lock with it
            }
        }
    }

    /// <summary>A hash of the duty's name that every replica computes alike (string.GetHashCode differs per process).</summary>
    private static long StableHash(string duty)
    {
        long hash = 17;
        foreach (var c in duty)
        {
            hash = unchecked((hash * 31) + c);
        }

        return hash;
    }
}
