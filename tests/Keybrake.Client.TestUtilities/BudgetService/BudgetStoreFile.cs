using Microsoft.Data.Sqlite;

namespace Keybrake.Client.TestUtilities.BudgetService;

/// <summary>
/// Reads the budget service's SQLite file directly, for what the service's API does not expose (the audit
/// records it stored, every reservation). Safe while the service runs (the file is in WAL mode, readers do
/// not block its writer) and after it was killed.
/// </summary>
public static class BudgetStoreFile
{
    /// <summary>Every audit record the service stored, oldest first.</summary>
    public static IReadOnlyList<StoredAudit> ReadAudit(string storagePath)
    {
        using var connection = Open(storagePath);
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT record_id, key_id, run_id, decision, reason, record, host FROM audit_record ORDER BY timestamp, record_id";
        using var reader = command.ExecuteReader();
        var records = new List<StoredAudit>();
        while (reader.Read())
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
    public static IReadOnlyList<StoredReservationRow> ReadReservations(string storagePath)
    {
        using var connection = Open(storagePath);
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {StoredReservationRow.Columns} FROM reservation ORDER BY created_at";
        using var reader = command.ExecuteReader();
        var rows = new List<StoredReservationRow>();
        while (reader.Read())
        {
            rows.Add(StoredReservationRow.Read(reader));
        }

        return rows;
    }

    /// <summary>A vendor object the service holds (amount and amount returned, in the object's minor units), or <see langword="null"/>.</summary>
    public static (long Amount, long AmountReturned)? ReadObject(string storagePath, string vendor, string objectId)
    {
        using var connection = Open(storagePath);
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT amount, amount_returned FROM vendor_object WHERE vendor = $vendor AND object_id = $id";
        command.Parameters.AddWithValue("$vendor", vendor);
        command.Parameters.AddWithValue("$id", objectId);
        using var reader = command.ExecuteReader();
        return reader.Read() ? (reader.GetInt64(0), reader.GetInt64(1)) : null;
    }

    private static SqliteConnection Open(string path)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException("The budget service has not created its file.", path);
        }

        var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWrite,
            Pooling = false,
            DefaultTimeout = 30,
        }.ToString());
        connection.Open();
        using var pragma = connection.CreateCommand();
        pragma.CommandText = "PRAGMA busy_timeout = 10000";
        pragma.ExecuteNonQuery();
        return connection;
    }
}

/// <summary>An audit record as the service stored it; <see cref="Json"/> is the whole record.</summary>
public sealed record StoredAudit(string RecordId, string KeyId, string? RunId, string Decision, string? Reason, string Json, string? Host = null);

/// <summary>A reservation as the service stored it; <see cref="State"/> is pending, committed or released.</summary>
public sealed record StoredReservationRow(
    string ReservationId,
    string KeyId,
    string? RunId,
    string IdempotencyKey,
    long EstimateMicroUsd,
    string State,
    long? ActualMicroUsd,
    DateTimeOffset CreatedAt)
{
    /// <summary>The columns each store is read with, in this order.</summary>
    public const string Columns = "reservation_id, key_id, run_id, idempotency_key, estimate, state, actual, created_at";

    /// <summary>The row at the reader, read with <see cref="Columns"/> from either engine.</summary>
    public static StoredReservationRow Read(System.Data.Common.DbDataReader reader) => new(
        reader.GetString(0),
        reader.GetString(1),
        reader.IsDBNull(2) ? null : reader.GetString(2),
        reader.GetString(3),
        reader.GetInt64(4),
        Convert.ToInt32(reader.GetValue(5), System.Globalization.CultureInfo.InvariantCulture) switch { 0 => "pending", 1 => "committed", _ => "released" },
        reader.IsDBNull(6) ? null : reader.GetInt64(6),
        DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(7)));
}
