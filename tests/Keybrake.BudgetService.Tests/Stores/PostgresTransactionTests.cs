using Keybrake.BudgetService.Store.Postgres;
using Keybrake.Client.TestUtilities.Postgres;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace Keybrake.BudgetService.Tests.Stores;

/// <summary>
/// The PostgreSQL store's transaction runner: a deadlock or serialization failure (raised by the server itself here)
/// runs the transaction again from the start, a bounded number of times; anything else fails at once.
/// </summary>
public sealed class PostgresTransactionTests
{
    [Test]
    public async Task A_transaction_the_server_aborts_as_a_serialization_failure_or_deadlock_runs_again_and_commits_once()
    {
        await using var database = await DatabaseAsync();
        var attempts = 0;

        var result = await database.InTransactionAsync(async (connection, transaction) =>
        {
            attempts++;
            await ExecuteAsync(connection, transaction, "INSERT INTO attempt (n) VALUES ($1)", attempts);
            if (attempts <= 2)
            {
                await RaiseAsync(connection, transaction, attempts == 1 ? "serialization_failure" : "deadlock_detected");
            }

            return attempts;
        }, CancellationToken.None);

        var rows = await RowsAsync(database);
        Assert.Multiple(() =>
        {
            Assert.That(result, Is.EqualTo(3));
            Assert.That(rows, Is.EqualTo(new[] { 3 }), "the aborted attempts' writes were rolled back");
        });
    }

    [Test]
    public async Task A_transaction_that_keeps_failing_gives_up_after_five_attempts_and_one_failing_otherwise_is_not_run_again()
    {
        await using var database = await DatabaseAsync();
        var serializationAttempts = 0;
        var otherAttempts = 0;

        var serialization = Assert.ThrowsAsync<PostgresException>(async () => await database.InTransactionAsync<int>(async (connection, transaction) =>
        {
            serializationAttempts++;
            await RaiseAsync(connection, transaction, "serialization_failure");
            return 0;
        }, CancellationToken.None));
        var other = Assert.ThrowsAsync<PostgresException>(async () => await database.InTransactionAsync<int>(async (connection, transaction) =>
        {
            otherAttempts++;
            await RaiseAsync(connection, transaction, "check_violation");
            return 0;
        }, CancellationToken.None));

        Assert.Multiple(() =>
        {
            Assert.That((serialization!.SqlState, serializationAttempts), Is.EqualTo((PostgresErrorCodes.SerializationFailure, 5)));
            Assert.That((other!.SqlState, otherAttempts), Is.EqualTo((PostgresErrorCodes.CheckViolation, 1)));
        });
    }

    private static async Task<PostgresDatabase> DatabaseAsync()
    {
        var database = new PostgresDatabase(await (await PostgresCluster.SharedAsync()).CreateDatabaseAsync(), NullLoggerFactory.Instance);
        await database.OnConnectionAsync(async connection =>
        {
            await using var create = new NpgsqlCommand("CREATE TABLE attempt (n integer NOT NULL)", connection);
            return await create.ExecuteNonQueryAsync();
        }, CancellationToken.None);
        return database;
    }

    private static async Task RaiseAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string condition)
    {
        await using var raise = new NpgsqlCommand($"DO $$ BEGIN RAISE EXCEPTION 'raised by the test' USING ERRCODE = '{condition}'; END $$", connection, transaction);
        await raise.ExecuteNonQueryAsync();
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, int value)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction) { Parameters = { new NpgsqlParameter { Value = value } } };
        await command.ExecuteNonQueryAsync();
    }

    private static Task<List<int>> RowsAsync(PostgresDatabase database) =>
        database.OnConnectionAsync(async connection =>
        {
            await using var command = new NpgsqlCommand("SELECT n FROM attempt ORDER BY n", connection);
            await using var reader = await command.ExecuteReaderAsync();
            var rows = new List<int>();
            while (await reader.ReadAsync())
            {
                rows.Add(reader.GetInt32(0));
            }

            return rows;
        }, CancellationToken.None);
}
