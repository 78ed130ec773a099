namespace Keybrake.BudgetService.Store;

/// <summary>
/// LLM spend reported after the fact (LiteLLM's spend logs): each log once, by its id, with the running total of its run
/// and its audit record, in one transaction. Both engines implement it on their budget store.
/// </summary>
internal interface ILlmSpendStore
{
    /// <summary>
    /// Stores the logs whose id the store has not seen, adds their cost to their run's total (run '' for logs that name
    /// no run) and appends their audit records, all in one transaction: all of it happens, or none. A log id seen before,
    /// in an earlier call, in this one, or on another replica at the same moment, is a duplicate and changes nothing.
    /// </summary>
    ValueTask<LlmSpendOutcome> RecordLlmSpendAsync(IReadOnlyList<LlmSpendEntry> entries, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>The LLM spend counted for a run ('' for the logs that named none), or <see langword="null"/> when none was.</summary>
    ValueTask<LlmRunTotal?> GetLlmRunTotalAsync(string runId, CancellationToken cancellationToken);
}

/// <summary>One LLM call's spend as reported, with the audit record that shows it in the trail.</summary>
internal sealed record LlmSpendEntry(
    string LogId,
    string RunId,
    long CostMicroUsd,
    string Model,
    string Provider,
    long? PromptTokens,
    long? CompletionTokens,
    string Status,
    DateTimeOffset StartedAt,
    string ClientId,
    StoredAuditRecord Audit);

/// <summary>How many logs of a call were counted, and how many had been counted before.</summary>
internal sealed record LlmSpendOutcome(int Accepted, int Duplicates);

/// <summary>A run's LLM spend: its total, how many calls, and the first and last call's start.</summary>
internal sealed record LlmRunTotal(string RunId, long CostMicroUsd, long Calls, DateTimeOffset FirstAt, DateTimeOffset LastAt);

/// <summary>The part of a batch that was new, summed by run: what each run's total takes, in run id order (one lock order for every writer).</summary>
internal static class LlmRunSums
{
    public static IEnumerable<(string RunId, long Cost, long Calls, long FirstAt, long LastAt)> Of(IEnumerable<LlmSpendEntry> added) =>
        added.GroupBy(entry => entry.RunId, StringComparer.Ordinal)
            .OrderBy(run => run.Key, StringComparer.Ordinal)
            .Select(run => (run.Key, run.Sum(entry => entry.CostMicroUsd), (long)run.Count(),
                run.Min(entry => entry.StartedAt.ToUnixTimeMilliseconds()), run.Max(entry => entry.StartedAt.ToUnixTimeMilliseconds())));

    /// <summary>Entries in log id order, first of each id only: the order rows are locked in.</summary>
    public static IReadOnlyList<LlmSpendEntry> Ordered(IReadOnlyList<LlmSpendEntry> entries, out int repeated)
    {
        var ordered = entries.DistinctBy(entry => entry.LogId, StringComparer.Ordinal).OrderBy(entry => entry.LogId, StringComparer.Ordinal).ToList();
        repeated = entries.Count - ordered.Count;
        return ordered;
    }
}
