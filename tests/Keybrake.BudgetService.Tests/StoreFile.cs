using System.Globalization;
using Microsoft.Data.Sqlite;

namespace Keybrake.BudgetService.Tests;

/// <summary>Reads the service's SQLite file directly, for what no RPC shows (audit records, the schema version).</summary>
internal static class StoreFile
{
    public static async Task<long> CountAsync(string path, string sql, params (string Name, object Value)[] parameters) =>
        Convert.ToInt64(await ScalarAsync(path, sql, parameters), CultureInfo.InvariantCulture);

    public static async Task<object?> ScalarAsync(string path, string sql, params (string Name, object Value)[] parameters)
    {
        await using var connection = Open(path, SqliteOpenMode.ReadOnly);
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        return await command.ExecuteScalarAsync();
    }

    public static async Task ExecuteAsync(string path, string sql)
    {
        await using var connection = Open(path, SqliteOpenMode.ReadWrite);
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync();
    }

    // No pooling: a pooled connection would keep the file open after the test.
    private static SqliteConnection Open(string path, SqliteOpenMode mode)
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Mode = mode, Pooling = false }.ToString());
        connection.Open();
        return connection;
    }
}
