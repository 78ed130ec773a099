using Microsoft.Extensions.Logging;

namespace Keybrake.Client.Central;

/// <summary>Messages of budget leases on the guard's side.</summary>
internal static partial class Log
{
    [LoggerMessage(390, LogLevel.Debug, "Budget lease {LeaseId} of key {KeyId}: {Granted} micro-USD granted, {Remaining} micro-USD left to decide on")]
    public static partial void LeaseGranted(ILogger logger, string leaseId, string keyId, long granted, long remaining);

    [LoggerMessage(391, LogLevel.Debug, "No budget lease granted for key {KeyId} ({Reason}): its calls go to Authorize one by one")]
    public static partial void LeaseNotGranted(ILogger logger, string keyId, string reason);

    [LoggerMessage(392, LogLevel.Information, "Budget lease {LeaseId} of key {KeyId} ended because {Why} (given back: {GivenBack})")]
    public static partial void LeaseEnded(ILogger logger, string leaseId, string keyId, string why, bool givenBack);

    [LoggerMessage(393, LogLevel.Warning, "A budget lease for key {KeyId} could not be asked for: {Problem}; its calls go to Authorize one by one")]
    public static partial void LeaseRequestFailed(ILogger logger, string keyId, string problem);

    [LoggerMessage(394, LogLevel.Error, "Looking over the budget leases failed; it is tried again shortly")]
    public static partial void LeaseSweepFailed(ILogger logger, Exception exception);

    [LoggerMessage(395, LogLevel.Information, "A call on key {KeyId} was denied while other processes' leases were recalled; it asks once more after waiting {WaitedMilliseconds} ms (returned: {Returned})")]
    public static partial void RecallWaited(ILogger logger, string keyId, long waitedMilliseconds, bool returned);

    [LoggerMessage(396, LogLevel.Information, "The budget service grants no budget leases (a version without them): calls on key {KeyId} go to Authorize one by one")]
    public static partial void LeasesNotOffered(ILogger logger, string keyId);
}
