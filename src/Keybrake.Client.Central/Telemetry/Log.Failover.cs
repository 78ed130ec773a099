using Microsoft.Extensions.Logging;

namespace Keybrake.Client.Central;

/// <summary>Messages of the failover between replicas of the budget service.</summary>
internal static partial class Log
{
    [LoggerMessage(290, LogLevel.Warning, "The budget service replica at {Host}:{Port} failed a call ({Problem}); calls go to the other replicas for {RestMilliseconds} ms before it is tried again")]
    public static partial void ReplicaPassedOver(ILogger logger, string host, int port, double restMilliseconds, string problem);

    [LoggerMessage(291, LogLevel.Information, "The budget service replica at {Host}:{Port} answers again")]
    public static partial void ReplicaAnswering(ILogger logger, string host, int port);
}
