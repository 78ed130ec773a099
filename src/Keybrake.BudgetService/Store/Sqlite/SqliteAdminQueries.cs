using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.Data.Sqlite;

namespace Keybrake.BudgetService.Store.Sqlite;

/// <summary>
/// The operator's reads, each on a read-only connection of its own: in WAL mode readers see the last commit and
/// never wait for the money path's writer, nor hold it up.
/// </summary>
internal sealed class SqliteAdminQueries : IAdminQueries
{
    private readonly string _connectionString;

    public SqliteAdminQueries(string path)
    {
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = Path.GetFullPath(path),
            Mode = SqliteOpenMode.ReadOnly,
        }.ToString();
    }

    public async ValueTask<IReadOnlyList<SpendCounter>> ListCountersAsync(SpendFilter filter, bool byRun, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        var sql = new StringBuilder(byRun
            ? "SELECT key_id, NULL, run_id, settled, reserved, overrun FROM run_counter WHERE 1 = 1"
            : "SELECT key_id, day, NULL, settled, reserved, overrun FROM day_counter WHERE 1 = 1");
        AddKeyFilter(command, sql, filter.KeyIds);
        if (byRun && filter.RunId is not null)
        {
            sql.Append(" AND run_id = $run");
            command.Parameters.AddWithValue("$run", filter.RunId);
        }

        if (!byRun && filter.FromDay is { } from)
        {
            sql.Append(" AND day >= $from");
            command.Parameters.AddWithValue("$from", from.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture));
        }

        if (!byRun && filter.ToDay is { } to)
        {
            sql.Append(" AND day <= $to");
            command.Parameters.AddWithValue("$to", to.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture));
        }

        sql.Append(byRun ? " ORDER BY key_id, run_id" : " ORDER BY key_id, day");
        command.CommandText = sql.ToString();
        var rows = new List<SpendCounter>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new SpendCounter(
                reader.GetString(0),
                reader.IsDBNull(1) ? null : reader.GetString(1),
                reader.IsDBNull(2) ? null : reader.GetString(2),
                reader.GetInt64(3),
                reader.GetInt64(4),
                reader.GetInt64(5)));
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

    public async ValueTask<StoredRun> GetRunAsync(string runId, CancellationToken cancellationToken)
    {
        var keys = await ListCountersAsync(new SpendFilter(null, runId, null, null), byRun: true, cancellationToken);
        await using var connection = await OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT t.cost, t.calls, t.first_at, t.last_at,
                   (SELECT min(timestamp) FROM audit_record WHERE run_id = $run), (SELECT max(timestamp) FROM audit_record WHERE run_id = $run)
            FROM (SELECT 1) LEFT JOIN llm_run_total t ON t.run_id = $run;
            SELECT model, provider, sum(cost), count(*) FROM llm_spend WHERE run_id = $run
            GROUP BY model, provider ORDER BY sum(cost) DESC, model, provider
            """;
        command.Parameters.AddWithValue("$run", runId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        var cost = reader.IsDBNull(0) ? 0 : reader.GetInt64(0);
        var calls = reader.IsDBNull(1) ? 0 : reader.GetInt64(1);
        var (first, last) = RunSpan.Of(Nullable(reader, 2), Nullable(reader, 3), Nullable(reader, 4), Nullable(reader, 5));
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
        await using var connection = await OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT run_id, cost, calls FROM llm_run_total WHERE run_id <> '' ORDER BY cost DESC, run_id LIMIT $limit";
        command.Parameters.AddWithValue("$limit", limit);
        var rows = new List<StoredLlmRunTotal>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new StoredLlmRunTotal(reader.GetString(0), reader.GetInt64(1), reader.GetInt64(2)));
        }

        return rows;
    }

    private static long? Nullable(SqliteDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : reader.GetInt64(ordinal);

    private async IAsyncEnumerable<StoredAuditRow> ReadAuditAsync(AuditFilter filter, bool newestFirst, int? limit, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        var sql = new StringBuilder("SELECT timestamp, record_id, record FROM audit_record WHERE 1 = 1");
        Equal(command, sql, "run_id", filter.RunId);
        Equal(command, sql, "key_id", filter.KeyId);
        Equal(command, sql, "vendor", filter.Vendor);
        Equal(command, sql, "decision", filter.Decision);
        if (filter.From is { } from)
        {
            sql.Append(" AND timestamp >= $from");
            command.Parameters.AddWithValue("$from", from.ToUnixTimeMilliseconds());
        }

        if (filter.To is { } to)
        {
            sql.Append(" AND timestamp < $to");
            command.Parameters.AddWithValue("$to", to.ToUnixTimeMilliseconds());
        }

        if (filter.After is { } after)
        {
            // Keyset paging on (timestamp, record_id): stable while records keep arriving.
            sql.Append(newestFirst
                ? " AND (timestamp < $after_ts OR (timestamp = $after_ts AND record_id < $after_id))"
                : " AND (timestamp > $after_ts OR (timestamp = $after_ts AND record_id > $after_id))");
            command.Parameters.AddWithValue("$after_ts", after.TimestampMillis);
            command.Parameters.AddWithValue("$after_id", after.RecordId);
        }

        sql.Append(newestFirst ? " ORDER BY timestamp DESC, record_id DESC" : " ORDER BY timestamp, record_id");
        if (limit is { } count)
        {
            sql.Append(" LIMIT $limit");
            command.Parameters.AddWithValue("$limit", count);
        }

        command.CommandText = sql.ToString();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            yield return new StoredAuditRow(reader.GetInt64(0), reader.GetString(1), reader.GetString(2));
        }
    }

    private static void Equal(SqliteCommand command, StringBuilder sql, string column, string? value)
    {
        if (value is not null)
        {
            sql.Append(CultureInfo.InvariantCulture, $" AND {column} = ${column}");
            command.Parameters.AddWithValue($"${column}", value);
        }
    }

    private static void AddKeyFilter(SqliteCommand command, StringBuilder sql, IReadOnlyCollection<string>? keyIds)
    {
        if (keyIds is null)
        {
            return;
        }

        sql.Append(" AND key_id IN (SELECT value FROM json_each($keys))");
        command.Parameters.AddWithValue("$keys", System.Text.Json.JsonSerializer.Serialize(keyIds));
    }

    private async Task<SqliteConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        await connection.OpenAsync(cancellationToken);
        return connection;
    }
}
