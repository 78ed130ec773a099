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

    [LoggerMessage(14, LogLevel.Error, "Settlement for reservation {ReservationId} could not be queued")]
    public static partial void SettlementDropped(ILogger logger, string reservationId);

    [LoggerMessage(42, LogLevel.Warning, "Key '{KeyId}' ({Vendor}) sends its secret to the stand-in {Endpoint}, not to the vendor's own hosts (its VendorEndpoint setting). Right for a test or a demo; never in production")]
    public static partial void SecretGoesToStandIn(ILogger logger, string keyId, string vendor, string endpoint);

    [LoggerMessage(41, LogLevel.Debug, "Keybrake redacted the vendor secret of key '{KeyId}' from the response to {Method} {Endpoint}")]
    public static partial void SecretRedacted(ILogger logger, string keyId, string method, string endpoint);

    [LoggerMessage(330, LogLevel.Information, "The budget service rotated the vendor secret of key '{KeyId}' past version {Version}; fetching the new one and asking once more")]
    public static partial void SecretRotatedRetry(ILogger logger, string keyId, long version);
}
