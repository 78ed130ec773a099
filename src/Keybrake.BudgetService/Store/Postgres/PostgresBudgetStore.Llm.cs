using static Keybrake.BudgetService.Store.Postgres.PostgresSql;

namespace Keybrake.BudgetService.Store.Postgres;

/// <summary>
/// LLM spend (LiteLLM's spend logs) on PostgreSQL, one transaction per batch. Replicas that take the same log at the same
/// moment meet on its primary key: the second insert waits for the first transaction and then inserts nothing, so the log
/// counts once. Rows are written in one order (log ids, then run ids), so two batches cannot deadlock on each other.
/// </summary>
internal sealed partial class PostgresBudgetStore : ILlmSpendStore
{
    public async ValueTask<LlmSpendOutcome> RecordLlmSpendAsync(IReadOnlyList<LlmSpendEntry> entries, DateTimeOffset now, CancellationToken cancellationToken) =>
        await _database.InTransactionAsync(async (connection, transaction) =>
        {
            var ordered = LlmRunSums.Ordered(entries, out var repeated);
            var added = new List<LlmSpendEntry>(ordered.Count);
            foreach (var entry in ordered)
            {
                await using var insert = Command(connection, transaction,
                    """
                    INSERT INTO llm_spend (log_id, run_id, cost, model, provider, prompt_tokens, completion_tokens, status, started_at, received_at, client_id)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                    ON CONFLICT (log_id) DO NOTHING
                    """,
                    Text(entry.LogId), Text(entry.RunId), Bigint(entry.CostMicroUsd), Text(entry.Model), Text(entry.Provider), Bigint(entry.PromptTokens),
                    Bigint(entry.CompletionTokens), Text(entry.Status), Millis(entry.StartedAt), Millis(now), Text(entry.ClientId));
                if (await insert.ExecuteNonQueryAsync(cancellationToken) == 1)
                {
                    added.Add(entry);
                }
            }

            foreach (var (runId, cost, calls, firstAt, lastAt) in LlmRunSums.Of(added))
            {
                await using var total = Command(connection, transaction,
                    """
                    INSERT INTO llm_run_total (run_id, cost, calls, first_at, last_at) VALUES ($1, $2, $3, $4, $5)
                    ON CONFLICT (run_id) DO UPDATE SET cost = LEAST(llm_run_total.cost + excluded.cost, $6), calls = llm_run_total.calls + excluded.calls,
                        first_at = LEAST(llm_run_total.first_at, excluded.first_at), last_at = GREATEST(llm_run_total.last_at, excluded.last_at)
                    """,
                    Text(runId), Bigint(cost), Bigint(calls), Bigint(firstAt), Bigint(lastAt), Bigint(BookLimits.MaxCounterMicroUsd));
                await total.ExecuteNonQueryAsync(cancellationToken);
            }

            foreach (var record in added.Select(entry => entry.Audit))
            {
                await using var audit = Command(connection, transaction,
                    """
                    INSERT INTO audit_record (record_id, received_at, timestamp, key_id, vendor, run_id, decision, reason, record, client_id, host)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                    ON CONFLICT (record_id) DO NOTHING
                    """,
                    Text(record.RecordId), Millis(now), Millis(record.Timestamp), Text(record.KeyId), Text(record.Vendor), Text(record.RunId),
                    Text(record.Decision), Text(record.Reason), Text(record.Json), Text(record.ClientId), Text(record.Host));
                await audit.ExecuteNonQueryAsync(cancellationToken);
            }

            return new LlmSpendOutcome(added.Count, ordered.Count - added.Count + repeated);
        }, cancellationToken);

    public async ValueTask<LlmRunTotal?> GetLlmRunTotalAsync(string runId, CancellationToken cancellationToken) =>
        await _database.OnConnectionAsync(async connection =>
        {
            await using var command = Command(connection, null, "SELECT cost, calls, first_at, last_at FROM llm_run_total WHERE run_id = $1", Text(runId));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            return await reader.ReadAsync(cancellationToken)
                ? new LlmRunTotal(runId, reader.GetInt64(0), reader.GetInt64(1), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(2)), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(3)))
                : null;
        }, cancellationToken);
}
