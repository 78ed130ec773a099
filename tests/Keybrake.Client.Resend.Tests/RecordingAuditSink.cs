using System.Collections.Concurrent;

namespace Keybrake.Client.Resend.Tests;

/// <summary>Keeps every audit record in memory.</summary>
internal sealed class RecordingAuditSink : IAuditSink
{
    private readonly ConcurrentQueue<AuditRecord> _records = new();

    public IReadOnlyList<AuditRecord> Records => [.. _records];

    public ValueTask WriteAsync(AuditRecord record, CancellationToken cancellationToken)
    {
        _records.Enqueue(record);
        return ValueTask.CompletedTask;
    }
}
