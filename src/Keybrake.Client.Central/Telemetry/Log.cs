using Microsoft.Extensions.Logging;

namespace Keybrake.Client.Central;

/// <summary>Central mode's log messages (their ids are the ones they had in Keybrake.Client). None takes a secret.</summary>
internal static partial class Log
{
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

    [LoggerMessage(15, LogLevel.Warning, "Audit records are left in the outbox {Path} for the next process to ship")]
    public static partial void AuditLeftInOutbox(ILogger logger, string path);

    [LoggerMessage(17, LogLevel.Error, "The budget service refused a batch of {Count} audit records; they stay in the outbox {Path}, set aside: {Problem}")]
    public static partial void AuditBatchRefused(ILogger logger, int count, string path, string problem);

    [LoggerMessage(16, LogLevel.Error, "Shipping audit records from the outbox {Path} failed")]
    public static partial void AuditShipFailed(ILogger logger, string path, Exception exception);

    [LoggerMessage(30, LogLevel.Warning, "The budget service's key event stream dropped ({Problem}); reconnecting")]
    public static partial void KeyWatchDropped(ILogger logger, string problem);

    [LoggerMessage(31, LogLevel.Information, "Key '{KeyId}': {Event} applied from the budget service's key event stream")]
    public static partial void KeyEventApplied(ILogger logger, string keyId, string @event);

    [LoggerMessage(32, LogLevel.Warning, "The budget service's policy for key '{KeyId}' does not compile here and is not used: {Problem}")]
    public static partial void ServicePolicyRejected(ILogger logger, string keyId, string problem);

    [LoggerMessage(33, LogLevel.Warning, "Could not confirm key event {Sequence} to the budget service ({Problem}); the operator's call names this process as unconfirmed")]
    public static partial void KeyEventNotAcknowledged(ILogger logger, long sequence, string problem);

    [LoggerMessage(331, LogLevel.Information, "Key '{KeyId}': vendor secret version {Version} fetched from the budget service, held in memory")]
    public static partial void VendorSecretFetched(ILogger logger, string keyId, long version);

    [LoggerMessage(332, LogLevel.Information, "Key '{KeyId}': vendor secret version {Version} dropped from memory ({Reason})")]
    public static partial void VendorSecretDropped(ILogger logger, string keyId, long version, string reason);

    [LoggerMessage(333, LogLevel.Information, "Key '{KeyId}': the budget service answered with vendor secret version {Version}, older than version {Announced} its key events announced; asking again")]
    public static partial void VendorSecretStale(ILogger logger, string keyId, long version, long announced);

    [LoggerMessage(334, LogLevel.Error, "The budget service refused this process the vendor secret of key '{KeyId}': {Problem}")]
    public static partial void VendorSecretRefused(ILogger logger, string keyId, string problem);
}
