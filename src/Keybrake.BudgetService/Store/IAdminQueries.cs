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
}

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
