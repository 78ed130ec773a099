namespace Keybrake.BudgetService;

/// <summary>The service's log messages. None of them takes an admin token.</summary>
internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Information, "Budget store opened at {Path} (schema version {Version})")]
    public static partial void StoreOpened(ILogger logger, string path, int version);

    [LoggerMessage(2, LogLevel.Warning, "A batch of {Count} store operations failed ({Message}); running them again one at a time")]
    public static partial void BatchRetriedAlone(ILogger logger, int count, string message);

    [LoggerMessage(7, LogLevel.Error, "Rolling back a store transaction failed")]
    public static partial void RollbackFailed(ILogger logger, Exception exception);

    [LoggerMessage(8, LogLevel.Error, "Checkpointing the budget store's write-ahead log failed")]
    public static partial void CheckpointFailed(ILogger logger, Exception exception);

    [LoggerMessage(3, LogLevel.Information, "Forgot {Count} finished reservations older than the idempotency window")]
    public static partial void Pruned(ILogger logger, int count);

    [LoggerMessage(4, LogLevel.Warning, "Key '{KeyId}' revoked={Revoked} by an admin call")]
    public static partial void RevocationChanged(ILogger logger, string keyId, bool revoked);

    [LoggerMessage(5, LogLevel.Warning, "Rejected an admin call without a valid token ({Method})")]
    public static partial void AdminRejected(ILogger logger, string method);

    [LoggerMessage(6, LogLevel.Error, "Pruning finished reservations failed")]
    public static partial void PruneFailed(ILogger logger, Exception exception);
}
