using System.Collections.Concurrent;

namespace Keybrake.Client.TestUtilities.Audit;

/// <summary>Keeps every audit record the guard writes in memory, in the order written; safe for concurrent calls.</summary>
public sealed class RecordingAuditSink : IAuditSink
{
    private readonly ConcurrentQueue<AuditRecord> _records = new();

    /// <summary>The records so far.</summary>
    public IReadOnlyList<AuditRecord> Records => [.. _records];

    public ValueTask WriteAsync(AuditRecord record, CancellationToken cancellationToken)
    {
        _records.Enqueue(record);
        return ValueTask.CompletedTask;
    }
}
