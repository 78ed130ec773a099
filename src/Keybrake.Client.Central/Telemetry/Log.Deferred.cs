using Microsoft.Extensions.Logging;

namespace Keybrake.Client.Central;

/// <summary>Messages about deferrals and duties kept at the budget service.</summary>
internal static partial class Log
{
    [LoggerMessage(224, LogLevel.Error, "The settlement queue is full: the deferral or price of {Vendor} object '{ObjectId}' of key '{KeyId}' was not queued; its reservation stays counted at its estimate unless this process sees the price")]
    public static partial void DeferredReportDropped(ILogger logger, string vendor, string objectId, string keyId);

    [LoggerMessage(225, LogLevel.Warning, "The deferral of {Vendor} object '{ObjectId}' of key '{KeyId}' cannot go to the budget service ({Problem}); only this process can settle it")]
    public static partial void DeferralNotShared(ILogger logger, string vendor, string objectId, string keyId, string problem);

    [LoggerMessage(227, LogLevel.Information, "This process gave up the duty '{Duty}' of key '{KeyId}' as it stopped: another process takes it over at once")]
    public static partial void DutyGivenUp(ILogger logger, string duty, string keyId);

    [LoggerMessage(228, LogLevel.Warning, "This process could not give up the duty '{Duty}' of key '{KeyId}' as it stopped ({Problem}); another process takes it over once its claim expires")]
    public static partial void DutyNotGivenUp(ILogger logger, string duty, string keyId, string problem);
}
