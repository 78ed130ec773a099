using Npgsql;

namespace Keybrake.Client.TestUtilities.BudgetService;

/// <summary>
/// Reads the budget service's PostgreSQL database directly, as <see cref="BudgetStoreFile"/> reads its SQLite file:
/// the audit records every replica stored and every reservation, for what the service's API does not expose.
/// </summary>
public static class BudgetStoreDatabase
{
    /// <summary>Every audit record the service stored, oldest first.</summary>
    public static async Task<IReadOnlyList<StoredAudit>> ReadAuditAsync(string connectionString)
    {
        await using var connection = await OpenAsync(connectionString);
        await using var command = new NpgsqlCommand("SELECT record_id, key_id, run_id, decision, reason, record, host FROM audit_record ORDER BY timestamp, record_id", connection);
        await using var reader = await command.ExecuteReaderAsync();
        var records = new List<StoredAudit>();
        while (await reader.ReadAsync())
        {
            records.Add(new StoredAudit(
                reader.GetString(0),
                reader.GetString(1),
                reader.IsDBNull(2) ? null : reader.GetString(2),
                reader.GetString(3),
                reader.IsDBNull(4) ? null : reader.GetString(4),
                reader.GetString(5),
                reader.IsDBNull(6) ? null : reader.GetString(6)));
        }

        return records;
    }

    /// <summary>Every reservation the service holds, pending or finished.</summary>
    public static async Task<IReadOnlyList<StoredReservationRow>> ReadReservationsAsync(string connectionString)
    {
        await using var connection = await OpenAsync(connectionString);
        await using var command = new NpgsqlCommand($"SELECT {StoredReservationRow.Columns} FROM reservation ORDER BY created_at", connection);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<StoredReservationRow>();
        while (await reader.ReadAsync())
        {
            rows.Add(StoredReservationRow.Read(reader));
        }

        return rows;
    }

    private static async Task<NpgsqlConnection> OpenAsync(string connectionString)
    {
        // Its own connection, outside any pool the test's other connections share.
        var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false }.ConnectionString);
        await connection.OpenAsync();
        return connection;
    }
}
