namespace Keybrake.BudgetService;

/// <summary>The replicas' log messages (event ids 280-289).</summary>
internal static partial class Log
{
    [LoggerMessage(280, LogLevel.Information, "Listening for changes made through other replicas ({ApplicationName}); {Keys} keys and {Clients} client credentials read back")]
    public static partial void ReplicaListening(ILogger logger, string applicationName, int keys, int clients);

    [LoggerMessage(281, LogLevel.Warning, "Lost the connection that hears of changes made through other replicas ({Reason}); key event streams end with Unavailable and new ones are refused until it is back")]
    public static partial void ReplicaListenLost(ILogger logger, string reason);

    [LoggerMessage(282, LogLevel.Debug, "Key '{KeyId}' changed through another replica ({Kind}); announced to this replica's streams")]
    public static partial void ReplicaKeyChanged(ILogger logger, string keyId, string kind);

    [LoggerMessage(283, LogLevel.Warning, "Client credential '{ClientId}' was revoked through another replica; its streams on this replica are told and end")]
    public static partial void ReplicaClientRevoked(ILogger logger, string clientId);

    [LoggerMessage(284, LogLevel.Warning, "A change made through another replica was not confirmed by every stream here: {Confirmed} of {Processes} confirmed; not confirmed: {Unconfirmed}")]
    public static partial void ReplicaChangeUnconfirmed(ILogger logger, int confirmed, int processes, string unconfirmed);

    [LoggerMessage(285, LogLevel.Information, "Running '{Duty}' for the cluster this cycle ({Holder})")]
    public static partial void ClusterDutyRuns(ILogger logger, string duty, string holder);

    [LoggerMessage(286, LogLevel.Information, "Skipping '{Duty}' this cycle: another replica runs it ({Holder})")]
    public static partial void ClusterDutySkipped(ILogger logger, string duty, string holder);
}
