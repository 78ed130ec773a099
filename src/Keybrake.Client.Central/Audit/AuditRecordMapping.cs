namespace Keybrake.Client.Central;

/// <summary>Audit records as the budget service takes them.</summary>
internal static class AuditRecordMapping
{
    public static Protocol.AuditRecord ToProtocol(AuditRecord record)
    {
        var message = new Protocol.AuditRecord
        {
            RecordId = record.RecordId,
            TimestampUnixMicros = Protocol.UnixMicros.From(record.Timestamp),
            KeyId = record.KeyId,
            Vendor = record.Vendor,
            Method = record.Method,
            Endpoint = record.Endpoint,
            EstimatedMicroUsd = record.EstimatedMicroUsd,
            Decision = record.Decision,
            Reason = record.Reason ?? string.Empty,
            Message = record.Message ?? string.Empty,
            Settlement = record.Settlement ?? string.Empty,
            ReservationId = record.ReservationId ?? string.Empty,
            RunId = record.RunId ?? string.Empty,
            IdempotencyKey = record.IdempotencyKey ?? string.Empty,
            LatencyMicros = record.LatencyMicroseconds,
            Host = record.Host ?? string.Empty,
        };
        if (record.SettledMicroUsd is { } settled)
        {
            message.SettledMicroUsd = settled;
        }

        if (record.HttpStatus is { } status)
        {
            message.HttpStatus = status;
        }

        if (record.Parameters is { } parameters)
        {
            foreach (var (name, value) in parameters)
            {
                message.Parameters[name] = value;
            }
        }

        return message;
    }
}
