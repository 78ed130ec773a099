namespace Keybrake.BudgetService.Store;

/// <summary>
/// The operator's reads: spend by key, day and run, and the audit trail. They run beside the money path, never
/// inside its transactions, and see committed data only.
/// </summary>
internal interface IAdminQueries
{
    /// <summary>Day counters (<paramref name="byRun"/> false) or run counters (true), filtered, one row per key and day or run.</summary>
    ValueTask<IReadOnlyList<SpendCounter>> ListCountersAsync(SpendFilter filter, bool byRun, CancellationToken cancellationToken);

    /// <summary>One page of audit records, newest first, after <see cref="AuditFilter.After"/>.</summary>
    ValueTask<IReadOnlyList<StoredAuditRow>> QueryAuditAsync(AuditFilter filter, int limit, CancellationToken cancellationToken);

    /// <summary>Every matching audit record, oldest first, as they are read.</summary>
    IAsyncEnumerable<StoredAuditRow> ExportAuditAsync(AuditFilter filter, CancellationToken cancellationToken);

    /// <summary>
    /// One run across every key: its run counters, the LLM spend reported for it (its total, and by model and provider,
    /// largest first), and when it was first and last seen (its audit records and LLM logs).
    /// </summary>
    ValueTask<StoredRun> GetRunAsync(string runId, CancellationToken cancellationToken);

    /// <summary>The runs with the most LLM spend reported, largest first, at most <paramref name="limit"/> (spend under no run is left out).</summary>
    ValueTask<IReadOnlyList<StoredLlmRunTotal>> ListLlmRunTotalsAsync(int limit, CancellationToken cancellationToken);
}

/// <summary>A run's LLM spend in total.</summary>
internal sealed record StoredLlmRunTotal(string RunId, long CostMicroUsd, long Calls);

/// <summary>A run's spend: each key's counters, and the LLM spend reported for it; no times for a run never seen.</summary>
internal sealed record StoredRun(
    IReadOnlyList<SpendCounter> Keys,
    long LlmMicroUsd,
    long LlmCalls,
    IReadOnlyList<StoredModelSpend> LlmModels,
    DateTimeOffset? FirstSeen,
    DateTimeOffset? LastSeen);

/// <summary>A run's LLM spend on one model of one provider.</summary>
internal sealed record StoredModelSpend(string Model, string Provider, long CostMicroUsd, long Calls);

/// <summary>Which counters to read; empty members match all.</summary>
internal sealed record SpendFilter(IReadOnlyCollection<string>? KeyIds, string? RunId, DateOnly? FromDay, DateOnly? ToDay);

/// <summary>One counter row: a key's spend on one day, or in one run.</summary>
internal sealed record SpendCounter(string KeyId, string? Day, string? RunId, long SettledMicroUsd, long ReservedMicroUsd, long OverrunMicroUsd = 0);

/// <summary>Which audit records to read; empty members match all. <see cref="After"/> is the paging position.</summary>
internal sealed record AuditFilter(
    string? RunId,
    string? KeyId,
    string? Vendor,
    string? Decision,
    DateTimeOffset? From,
    DateTimeOffset? To,
    AuditPosition? After);

/// <summary>Where a page ended: the last record's time and id (records are ordered by both).</summary>
internal sealed record AuditPosition(long TimestampMillis, string RecordId);

/// <summary>An audit record as stored: its position and the record as JSON.</summary>
internal sealed record StoredAuditRow(long TimestampMillis, string RecordId, string Json);

/// <summary>When a run was first and last seen: the earliest and latest of its audit records and its LLM logs.</summary>
internal static class RunSpan
{
    public static (DateTimeOffset? First, DateTimeOffset? Last) Of(long? llmFirst, long? llmLast, long? auditFirst, long? auditLast)
    {
        var first = Pick(llmFirst, auditFirst, Math.Min);
        var last = Pick(llmLast, auditLast, Math.Max);
        return (first is { } f ? DateTimeOffset.FromUnixTimeMilliseconds(f) : null, last is { } l ? DateTimeOffset.FromUnixTimeMilliseconds(l) : null);
    }

    private static long? Pick(long? a, long? b, Func<long, long, long> choose) =>
        a is { } x ? (b is { } y ? choose(x, y) : x) : b;
}
