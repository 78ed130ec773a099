using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using Npgsql;
using NpgsqlTypes;

namespace Keybrake.BudgetService.Store.Postgres;

/// <summary>The operator's reads on PostgreSQL: plain statements outside the money path's transactions, seeing committed data only.</summary>
internal sealed class PostgresAdminQueries : IAdminQueries
{
    private readonly PostgresDatabase _database;

    public PostgresAdminQueries(PostgresDatabase database) => _database = database;

    public async ValueTask<IReadOnlyList<SpendCounter>> ListCountersAsync(SpendFilter filter, bool byRun, CancellationToken cancellationToken)
    {
        await using var connection = await _database.DataSource.OpenConnectionAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        var sql = new StringBuilder(byRun
            ? "SELECT key_id, NULL::text, run_id, settled, reserved, overrun FROM run_counter WHERE true"
            : "SELECT key_id, day, NULL::text, settled, reserved, overrun FROM day_counter WHERE true");
        if (filter.KeyIds is { } keys)
        {
            sql.Append(" AND key_id = ANY(@keys)");
            command.Parameters.Add(new NpgsqlParameter("keys", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = keys.ToArray() });
        }

        if (byRun && filter.RunId is not null)
        {
            sql.Append(" AND run_id = @run");
            command.Parameters.Add(new NpgsqlParameter("run", NpgsqlDbType.Text) { Value = filter.RunId });
        }

        if (!byRun && filter.FromDay is { } from)
        {
            sql.Append(" AND day >= @from");
            command.Parameters.Add(new NpgsqlParameter("from", NpgsqlDbType.Text) { Value = from.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture) });
        }

        if (!byRun && filter.ToDay is { } to)
        {
            sql.Append(" AND day <= @to");
            command.Parameters.Add(new NpgsqlParameter("to", NpgsqlDbType.Text) { Value = to.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture) });
        }

        // COLLATE "C": ordered by code point, as SQLite orders text, whatever the database's collation.
        sql.Append(byRun ? " ORDER BY key_id COLLATE \"C\", run_id COLLATE \"C\"" : " ORDER BY key_id COLLATE \"C\", day");
        command.CommandText = sql.ToString();
        var rows = new List<SpendCounter>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new SpendCounter(reader.GetString(0), PostgresSql.NullableString(reader, 1), PostgresSql.NullableString(reader, 2), reader.GetInt64(3), reader.GetInt64(4), reader.GetInt64(5)));
        }

        return rows;
    }

    public async ValueTask<StoredRun> GetRunAsync(string runId, CancellationToken cancellationToken)
    {
        var keys = await ListCountersAsync(new SpendFilter(null, runId, null, null), byRun: true, cancellationToken);
        await using var connection = await _database.DataSource.OpenConnectionAsync(cancellationToken);
        await using var batch = new NpgsqlBatch(connection)
        {
            BatchCommands =
            {
                new NpgsqlBatchCommand(
                    """
                    SELECT t.cost, t.calls, t.first_at, t.last_at,
                           (SELECT min(timestamp) FROM audit_record WHERE run_id = $1), (SELECT max(timestamp) FROM audit_record WHERE run_id = $1)
                    FROM (SELECT 1) AS one LEFT JOIN llm_run_total t ON t.run_id = $1
                    """) { Parameters = { new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Text, Value = runId } } },
                new NpgsqlBatchCommand(
                    """
                    SELECT model, provider, sum(cost)::bigint, count(*) FROM llm_spend WHERE run_id = $1
                    GROUP BY model, provider ORDER BY sum(cost) DESC, model COLLATE "C", provider COLLATE "C"
                    """) { Parameters = { new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Text, Value = runId } } },
            },
        };
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        var cost = reader.NullableInt64(0) ?? 0;
        var calls = reader.NullableInt64(1) ?? 0;
        var (first, last) = RunSpan.Of(reader.NullableInt64(2), reader.NullableInt64(3), reader.NullableInt64(4), reader.NullableInt64(5));
        await reader.NextResultAsync(cancellationToken);
        var models = new List<StoredModelSpend>();
        while (await reader.ReadAsync(cancellationToken))
        {
            models.Add(new StoredModelSpend(reader.GetString(0), reader.GetString(1), reader.GetInt64(2), reader.GetInt64(3)));
        }

        return new StoredRun(keys, cost, calls, models, first, last);
    }

    public async ValueTask<IReadOnlyList<StoredLlmRunTotal>> ListLlmRunTotalsAsync(int limit, CancellationToken cancellationToken)
    {
        await using var connection = await _database.DataSource.OpenConnectionAsync(cancellationToken);
        await using var command = new NpgsqlCommand("SELECT run_id, cost, calls FROM llm_run_total WHERE run_id <> '' ORDER BY cost DESC, run_id COLLATE \"C\" LIMIT $1", connection)
        {
            Parameters = { new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Integer, Value = limit } },
        };
        var rows = new List<StoredLlmRunTotal>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new StoredLlmRunTotal(reader.GetString(0), reader.GetInt64(1), reader.GetInt64(2)));
        }

        return rows;
    }

    public async ValueTask<IReadOnlyList<StoredAuditRow>> QueryAuditAsync(AuditFilter filter, int limit, CancellationToken cancellationToken)
    {
        var rows = new List<StoredAuditRow>(Math.Min(limit, 1024));
        await foreach (var row in ReadAuditAsync(filter, newestFirst: true, limit, cancellationToken))
        {
            rows.Add(row);
        }

        return rows;
    }

    public IAsyncEnumerable<StoredAuditRow> ExportAuditAsync(AuditFilter filter, CancellationToken cancellationToken) =>
        ReadAuditAsync(filter, newestFirst: false, limit: null, cancellationToken);

    private async IAsyncEnumerable<StoredAuditRow> ReadAuditAsync(AuditFilter filter, bool newestFirst, int? limit, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await using var connection = await _database.DataSource.OpenConnectionAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        var sql = new StringBuilder("SELECT timestamp, record_id, record FROM audit_record WHERE true");
        Equal(command, sql, "run_id", filter.RunId);
        Equal(command, sql, "key_id", filter.KeyId);
        Equal(command, sql, "vendor", filter.Vendor);
        Equal(command, sql, "decision", filter.Decision);
        if (filter.From is { } from)
        {
            sql.Append(" AND timestamp >= @from");
            command.Parameters.Add(new NpgsqlParameter("from", NpgsqlDbType.Bigint) { Value = from.ToUnixTimeMilliseconds() });
        }

        if (filter.To is { } to)
        {
            sql.Append(" AND timestamp < @to");
            command.Parameters.Add(new NpgsqlParameter("to", NpgsqlDbType.Bigint) { Value = to.ToUnixTimeMilliseconds() });
        }

        if (filter.After is { } after)
        {
            // Keyset paging on (timestamp, record_id): stable while records keep arriving.
            sql.Append(newestFirst
                ? " AND (timestamp, record_id COLLATE \"C\") < (@after_ts, @after_id)"
                : " AND (timestamp, record_id COLLATE \"C\") > (@after_ts, @after_id)");
            command.Parameters.Add(new NpgsqlParameter("after_ts", NpgsqlDbType.Bigint) { Value = after.TimestampMillis });
            command.Parameters.Add(new NpgsqlParameter("after_id", NpgsqlDbType.Text) { Value = after.RecordId });
        }

        sql.Append(newestFirst ? " ORDER BY timestamp DESC, record_id COLLATE \"C\" DESC" : " ORDER BY timestamp, record_id COLLATE \"C\"");
        if (limit is { } count)
        {
            sql.Append(" LIMIT @limit");
            command.Parameters.Add(new NpgsqlParameter("limit", NpgsqlDbType.Integer) { Value = count });
        }

        command.CommandText = sql.ToString();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            yield return new StoredAuditRow(reader.GetInt64(0), reader.GetString(1), reader.GetString(2));
        }
    }

    private static void Equal(NpgsqlCommand command, StringBuilder sql, string column, string? value)
    {
        if (value is not null)
        {
            sql.Append(CultureInfo.InvariantCulture, $" AND {column} = @{column}");
            command.Parameters.Add(new NpgsqlParameter(column, NpgsqlDbType.Text) { Value = value });
        }
    }
}
