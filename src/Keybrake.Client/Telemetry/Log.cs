using Microsoft.Extensions.Logging;

namespace Keybrake.Client;

/// <summary>Keybrake's log messages. None of them takes a secret, a brake key or a request body.</summary>
internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Warning, "Keybrake denied {Method} {Endpoint} for key '{KeyId}' ({Vendor}, run {RunId}): {Reason}. {Message}")]
    public static partial void Denied(ILogger logger, string method, string endpoint, string keyId, string vendor, string? runId, string reason, string message);

    [LoggerMessage(2, LogLevel.Debug, "Keybrake allowed {Method} {Endpoint} for key '{KeyId}' ({Vendor}, run {RunId}): status {Status}, estimated {EstimatedMicroUsd} µUSD, settlement {Settlement}")]
    public static partial void Allowed(ILogger logger, string method, string endpoint, string keyId, string vendor, string? runId, int? status, long estimatedMicroUsd, string? settlement);

    [LoggerMessage(3, LogLevel.Warning, "Keybrake could not tell whether {Method} {Endpoint} for key '{KeyId}' moved money (status {Status}); reservation {ReservationId} stays counted until a retry settles it or an operator resolves it")]
    public static partial void HeldUnknownOutcome(ILogger logger, string method, string endpoint, string keyId, int? status, string reservationId);

    [LoggerMessage(4, LogLevel.Error, "Keybrake failed to settle reservation {ReservationId} for key '{KeyId}'; it stays counted as spent")]
    public static partial void SettleFailed(ILogger logger, string reservationId, string keyId, Exception exception);

    [LoggerMessage(5, LogLevel.Error, "Audit sink {Sink} failed to take record {RecordId}")]
    public static partial void AuditSinkFailed(ILogger logger, string sink, string recordId, Exception exception);

    [LoggerMessage(6, LogLevel.Error, "Writing audit records to {Path} failed")]
    public static partial void AuditWriteFailed(ILogger logger, string path, Exception exception);

    [LoggerMessage(7, LogLevel.Warning, "Keybrake could not read the cost of {Method} {Endpoint} for key '{KeyId}' from the response; the estimate stands as spent")]
    public static partial void OutcomeUnreadable(ILogger logger, string method, string endpoint, string keyId, Exception? exception);

    [LoggerMessage(8, LogLevel.Information, "Keybrake keys reloaded from configuration: {Count} keys")]
    public static partial void KeysReloaded(ILogger logger, int count);

    [LoggerMessage(9, LogLevel.Error, "Keybrake rejected a configuration reload and keeps the previous keys: {Problem}")]
    public static partial void KeysReloadRejected(ILogger logger, string problem);

    [LoggerMessage(10, LogLevel.Warning, "The Keybrake budget service could not be reached for {Call}: {Problem}")]
    public static partial void BudgetServiceUnreachable(ILogger logger, string call, string problem);

    [LoggerMessage(40, LogLevel.Error, "The Keybrake budget service refused this process's client credential for {Call}: {Problem}")]
    public static partial void BudgetServiceRefusedCredential(ILogger logger, string call, string problem);

    [LoggerMessage(11, LogLevel.Warning, "Keybrake allowed a call for key '{KeyId}' ({EstimatedMicroUsd} µUSD) on this process's emergency allowance while the budget service is unreachable ({ReservationId})")]
    public static partial void EmergencyAllowanceUsed(ILogger logger, string keyId, long estimatedMicroUsd, string reservationId);

    [LoggerMessage(12, LogLevel.Error, "The budget service refused {Count} settlements as invalid and they were dropped: {Problem}")]
    public static partial void SettlementRejected(ILogger logger, int count, string problem);

    [LoggerMessage(13, LogLevel.Warning, "Shutting down with {Count} settlements unsent: their reservations stay pending at the budget service, counted as spent")]
    public static partial void SettlementsLeftPending(ILogger logger, int count);

    [LoggerMessage(18, LogLevel.Warning, "{Count} vendor objects did not reach the budget service; later calls that refer to them will not find them")]
    public static partial void ObjectsDropped(ILogger logger, int count);

    [LoggerMessage(14, LogLevel.Error, "Settlement for reservation {ReservationId} could not be queued")]
    public static partial void SettlementDropped(ILogger logger, string reservationId);

    [LoggerMessage(15, LogLevel.Warning, "Audit records are left in the outbox {Path} for the next process to ship")]
    public static partial void AuditLeftInOutbox(ILogger logger, string path);

    [LoggerMessage(17, LogLevel.Error, "The budget service refused a batch of {Count} audit records; they stay in the outbox {Path}, set aside: {Problem}")]
    public static partial void AuditBatchRefused(ILogger logger, int count, string path, string problem);

    [LoggerMessage(16, LogLevel.Error, "Shipping audit records from the outbox {Path} failed")]
    public static partial void AuditShipFailed(ILogger logger, string path, Exception exception);

    [LoggerMessage(42, LogLevel.Warning, "Key '{KeyId}' ({Vendor}) sends its secret to the stand-in {Endpoint}, not to the vendor's own hosts (its VendorEndpoint setting). Right for a test or a demo; never in production")]
    public static partial void SecretGoesToStandIn(ILogger logger, string keyId, string vendor, string endpoint);

    [LoggerMessage(30, LogLevel.Warning, "The budget service's key event stream dropped ({Problem}); reconnecting")]
    public static partial void KeyWatchDropped(ILogger logger, string problem);

    [LoggerMessage(31, LogLevel.Information, "Key '{KeyId}': {Event} applied from the budget service's key event stream")]
    public static partial void KeyEventApplied(ILogger logger, string keyId, string @event);

    [LoggerMessage(32, LogLevel.Warning, "The budget service's policy for key '{KeyId}' does not compile here and is not used: {Problem}")]
    public static partial void ServicePolicyRejected(ILogger logger, string keyId, string problem);

    [LoggerMessage(41, LogLevel.Debug, "Keybrake redacted the vendor secret of key '{KeyId}' from the response to {Method} {Endpoint}")]
    public static partial void SecretRedacted(ILogger logger, string keyId, string method, string endpoint);

    [LoggerMessage(33, LogLevel.Warning, "Could not confirm key event {Sequence} to the budget service ({Problem}); the operator's call names this process as unconfirmed")]
    public static partial void KeyEventNotAcknowledged(ILogger logger, long sequence, string problem);
}
