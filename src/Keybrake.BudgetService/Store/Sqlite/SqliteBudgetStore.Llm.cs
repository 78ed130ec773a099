namespace Keybrake.BudgetService.Store.Sqlite;

/// <summary>LLM spend (LiteLLM's spend logs) on the worker: one operation, so one transaction, per batch.</summary>
internal sealed partial class SqliteBudgetStore : ILlmSpendStore
{
    public ValueTask<LlmSpendOutcome> RecordLlmSpendAsync(IReadOnlyList<LlmSpendEntry> entries, DateTimeOffset now, CancellationToken cancellationToken) =>
        new(Worker.RunAsync(
            c =>
            {
                var ordered = LlmRunSums.Ordered(entries, out var repeated);
                var added = new List<LlmSpendEntry>(ordered.Count);
                foreach (var entry in ordered)
                {
                    using var insert = c.AdHoc(
                        """
                        INSERT INTO llm_spend (log_id, run_id, cost, model, provider, prompt_tokens, completion_tokens, status, started_at, received_at, client_id)
                        VALUES ($log, $run, $cost, $model, $provider, $prompt, $completion, $status, $started, $received, $client)
                        ON CONFLICT (log_id) DO NOTHING
                        """,
                        ("$log", entry.LogId), ("$run", entry.RunId), ("$cost", entry.CostMicroUsd), ("$model", entry.Model), ("$provider", entry.Provider),
                        ("$prompt", entry.PromptTokens), ("$completion", entry.CompletionTokens), ("$status", entry.Status),
                        ("$started", entry.StartedAt.ToUnixTimeMilliseconds()), ("$received", now.ToUnixTimeMilliseconds()), ("$client", entry.ClientId));
                    if (insert.ExecuteNonQuery() == 1)
                    {
                        added.Add(entry);
                    }
                }

                foreach (var (runId, cost, calls, firstAt, lastAt) in LlmRunSums.Of(added))
                {
                    // A total stops at the counters' bound rather than overflow into a REAL (BookLimits): a trillion dollars.
                    using var total = c.AdHoc(
                        """
                        INSERT INTO llm_run_total (run_id, cost, calls, first_at, last_at) VALUES ($run, $cost, $calls, $first, $last)
                        ON CONFLICT (run_id) DO UPDATE SET cost = MIN(cost + excluded.cost, $max), calls = calls + excluded.calls,
                            first_at = MIN(first_at, excluded.first_at), last_at = MAX(last_at, excluded.last_at)
                        """,
                        ("$run", runId), ("$cost", cost), ("$calls", calls), ("$first", firstAt), ("$last", lastAt), ("$max", BookLimits.MaxCounterMicroUsd));
                    total.ExecuteNonQuery();
                }

                foreach (var entry in added)
                {
                    c.AppendAudit(entry.Audit, now);
                }

                return new LlmSpendOutcome(added.Count, ordered.Count - added.Count + repeated);
            },
            cancellationToken));

    public ValueTask<LlmRunTotal?> GetLlmRunTotalAsync(string runId, CancellationToken cancellationToken) =>
        new(Worker.RunAsync(
            c =>
            {
                using var command = c.AdHoc("SELECT cost, calls, first_at, last_at FROM llm_run_total WHERE run_id = $run", ("$run", runId));
                using var reader = command.ExecuteReader();
                return reader.Read()
                    ? new LlmRunTotal(runId, reader.GetInt64(0), reader.GetInt64(1), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(2)), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(3)))
                    : null;
            },
            cancellationToken));
}
