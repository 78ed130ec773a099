using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Keybrake.BudgetService.Tests;

/// <summary>Reads the service's store directly (its SQLite file, or its PostgreSQL database), for what no RPC shows (audit records, the schema version).</summary>
internal static class StoreFile
{
    /// <summary>
    /// A count from the store of <paramref name="service"/>, whichever engine it runs on: SQLite's file, or its PostgreSQL
    /// database (<c>$name</c> parameters become Npgsql's <c>@name</c>).
    /// </summary>
    public static async Task<long> CountAsync(TestService service, string sql, params (string Name, object Value)[] parameters) =>
        Convert.ToInt64(await ScalarAsync(service, sql, parameters), CultureInfo.InvariantCulture);

    /// <inheritdoc cref="CountAsync(TestService, string, ValueTuple{string, object}[])"/>
    public static async Task<object?> ScalarAsync(TestService service, string sql, params (string Name, object Value)[] parameters)
    {
        if (service.Postgres is null)
        {
            return await ScalarAsync(service.Host.StoragePath, sql, parameters);
        }

        await using var connection = new NpgsqlConnection(service.Postgres);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(Regex.Replace(sql, @"\$(\w+)", "@$1"), connection);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name.TrimStart('$'), value);
        }

        return await command.ExecuteScalarAsync();
    }

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
