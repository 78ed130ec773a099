using System.Data.Common;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Keybrake.Client.TestUtilities.BudgetService;

/// <summary>One LLM call's spend as the budget service keeps it (a row of <c>llm_spend</c>).</summary>
/// <param name="LogId">The spend log's id (LiteLLM's call id).</param>
/// <param name="RunId">The run; empty for a log that named none.</param>
/// <param name="CostMicroUsd">What the call cost.</param>
/// <param name="Model">The model.</param>
/// <param name="Provider">The provider.</param>
/// <param name="StartedAt">When the call started.</param>
public sealed record LlmSpendRow(string LogId, string RunId, long CostMicroUsd, string Model, string Provider, DateTimeOffset StartedAt)
{
    /// <summary>Prompt tokens, when reported.</summary>
    public long? PromptTokens { get; init; }

    /// <summary>Completion tokens, when reported.</summary>
    public long? CompletionTokens { get; init; }
}

/// <summary>
/// Writes LLM spend straight into the budget service's store (<c>llm_spend</c> and each run's <c>llm_run_total</c>),
/// on SQLite or PostgreSQL, as the service's own LiteLLM intake does on receiving spend logs. Tests of what reads LLM
/// spend (the run cap that includes it, the run summary) use it until they can post real spend logs to the intake;
/// a log id already stored counts once, as at the intake.
/// </summary>
public static class LlmSpendSeed
{
    private const string InsertLog = """
        INSERT INTO llm_spend (log_id, run_id, cost, model, provider, prompt_tokens, completion_tokens, status, started_at, received_at, client_id)
        VALUES (@log, @run, @cost, @model, @provider, @prompt, @completion, 'success', @started, @started, 'test-seed')
        ON CONFLICT (log_id) DO NOTHING
        """;

    private const string AddToRun = """
        INSERT INTO llm_run_total (run_id, cost, calls, first_at, last_at) VALUES (@run, @cost, 1, @started, @started)
        ON CONFLICT (run_id) DO UPDATE SET cost = llm_run_total.cost + excluded.cost, calls = llm_run_total.calls + 1,
            first_at = MIN(llm_run_total.first_at, excluded.first_at), last_at = MAX(llm_run_total.last_at, excluded.last_at)
        """;

    /// <summary>Seeds the service's SQLite file (safe while the service runs: it waits for the service's writer).</summary>
    /// <param name="storagePath">The service's <c>budget.db</c>.</param>
    /// <param name="rows">The spend.</param>
    public static async Task IntoFileAsync(string storagePath, params LlmSpendRow[] rows)
    {
        await using var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = storagePath,
            Mode = SqliteOpenMode.ReadWrite,
            Pooling = false,
            DefaultTimeout = 30,
        }.ToString());
        await connection.OpenAsync();
        await WriteAsync(connection, AddToRun, rows); // SQLite's min() and max() of two values
    }

    /// <summary>Seeds the service's PostgreSQL database.</summary>
    /// <param name="connectionString">The service's database.</param>
    /// <param name="rows">The spend.</param>
    public static async Task IntoDatabaseAsync(string connectionString, params LlmSpendRow[] rows)
    {
        await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false }.ConnectionString);
        await connection.OpenAsync();
        await WriteAsync(connection, AddToRun.Replace("MIN(", "LEAST(", StringComparison.Ordinal).Replace("MAX(", "GREATEST(", StringComparison.Ordinal), rows);
    }

    /// <summary>Seeds whichever store the service uses: its PostgreSQL database when given, else its SQLite file.</summary>
    /// <param name="storagePath">The service's <c>budget.db</c>.</param>
    /// <param name="postgres">The service's PostgreSQL database, or <see langword="null"/> on SQLite.</param>
    /// <param name="rows">The spend.</param>
    public static Task IntoAsync(string storagePath, string? postgres, params LlmSpendRow[] rows) =>
        postgres is null ? IntoFileAsync(storagePath, rows) : IntoDatabaseAsync(postgres, rows);

    private static async Task WriteAsync(DbConnection connection, string addToRun, LlmSpendRow[] rows)
    {
        foreach (var row in rows)
        {
            // One transaction per log, as the intake counts it: the log and its run's total move together, once.
            await using var transaction = await connection.BeginTransactionAsync();
            await using var insert = connection.CreateCommand();
            insert.Transaction = transaction;
            insert.CommandText = InsertLog;
            Add(insert, "log", row.LogId);
            Add(insert, "run", row.RunId);
            Add(insert, "cost", row.CostMicroUsd);
            Add(insert, "model", row.Model);
            Add(insert, "provider", row.Provider);
            Add(insert, "prompt", row.PromptTokens);
            Add(insert, "completion", row.CompletionTokens);
            Add(insert, "started", row.StartedAt.ToUnixTimeMilliseconds());
            if (await insert.ExecuteNonQueryAsync() == 1)
            {
                await using var total = connection.CreateCommand();
                total.Transaction = transaction;
                total.CommandText = addToRun;
                Add(total, "run", row.RunId);
                Add(total, "cost", row.CostMicroUsd);
                Add(total, "started", row.StartedAt.ToUnixTimeMilliseconds());
                await total.ExecuteNonQueryAsync();
            }

            await transaction.CommitAsync();
        }
    }

    private static void Add(DbCommand command, string name, object? value)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.Value = value ?? DBNull.Value;
        command.Parameters.Add(parameter);
    }
}
