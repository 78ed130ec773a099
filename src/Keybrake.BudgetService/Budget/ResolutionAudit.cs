using Google.Protobuf;
using Keybrake.BudgetService.Store;
using Keybrake.Protocol;

namespace Keybrake.BudgetService.Budget;

/// <summary>
/// An operator's resolution of an unsettled reservation is money moved (or released) by hand: it gets an audit record
/// of its own, with the operator's reason as the record's message, so that the trail shows who changed the books and why.
/// </summary>
internal static class ResolutionAudit
{
    /// <summary>The decision such a record carries: neither an allowed nor a denied call.</summary>
    public const string Decision = "resolve";

    public const int MaxReasonLength = 500;

    public static void CheckReason(string reason)
    {
        if (reason.Length > MaxReasonLength)
        {
            throw RequestChecks.Invalid($"reason is longer than {MaxReasonLength} characters");
        }

        if (reason.Any(char.IsControl))
        {
            throw RequestChecks.Invalid("reason must not contain control characters (line breaks included)");
        }
    }

    public static StoredAuditRecord Record(string recordId, DateTimeOffset now, string keyId, string vendor, string reservationId, string? runId, long? actualMicroUsd, string reason)
    {
        var record = new AuditRecord
        {
            RecordId = recordId,
            TimestampUnixMicros = UnixMicros.From(now),
            KeyId = keyId,
            Vendor = vendor,
            Method = "ADMIN",
            Endpoint = "ResolveReservation",
            Decision = Decision,
            Message = reason,
            Settlement = actualMicroUsd is null ? "released" : "committed",
            ReservationId = reservationId,
            RunId = runId ?? string.Empty,
            ClientId = "admin",
        };
        if (actualMicroUsd is { } actual)
        {
            record.SettledMicroUsd = actual;
        }

        return new StoredAuditRecord(recordId, now, keyId, vendor, runId, Decision, Reason: null, JsonFormatter.Default.Format(record), "admin");
    }
}
