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

    [LoggerMessage(7, LogLevel.Warning, "Key '{KeyId}' in configuration differs from the store, where an operator changed it; the store's policy applies")]
    public static partial void ConfiguredKeyOverridden(ILogger logger, string keyId);

    [LoggerMessage(8, LogLevel.Information, "{Count} keys loaded")]
    public static partial void KeysLoaded(ILogger logger, int count);

    [LoggerMessage(9, LogLevel.Warning, "Key '{KeyId}' created by an admin call ({Vendor})")]
    public static partial void KeyCreated(ILogger logger, string keyId, string vendor);

    [LoggerMessage(10, LogLevel.Warning, "Key '{KeyId}' policy changed by an admin call (version {Version})")]
    public static partial void PolicyChanged(ILogger logger, string keyId, long version);

    [LoggerMessage(11, LogLevel.Warning, "No admin token is configured: generated one at {Path} (readable by this user only)")]
    public static partial void AdminTokenGenerated(ILogger logger, string path);

    [LoggerMessage(12, LogLevel.Information, "Admin token read from {Path}")]
    public static partial void AdminTokenRead(ILogger logger, string path);

    [LoggerMessage(13, LogLevel.Error, "Key '{KeyId}': its stored policy does not compile on this machine, so no money may move with it until an operator updates it: {Problem}")]
    public static partial void StoredPolicyRejected(ILogger logger, string keyId, string problem);

    [LoggerMessage(14, LogLevel.Warning, "INSECURE: listening without TLS on {Url}, which other hosts can reach (BudgetService:AllowInsecureNetwork=true). Tokens, policies and audit records cross the network in clear text. Configure BudgetService:Tls:CertificatePath.")]
    public static partial void InsecureNetwork(ILogger logger, string url);

    [LoggerMessage(15, LogLevel.Information, "Listening on {Url} for {Serves}")]
    public static partial void Listening(ILogger logger, string url, string serves);

    [LoggerMessage(16, LogLevel.Warning, "Key '{KeyId}': {Confirmed} of {Processes} processes on the key event stream confirmed the change; not confirmed: {Unconfirmed}")]
    public static partial void KeyEventUnconfirmed(ILogger logger, string keyId, int confirmed, int processes, string unconfirmed);
}
