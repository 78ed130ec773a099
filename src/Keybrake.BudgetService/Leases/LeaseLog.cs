namespace Keybrake.BudgetService.Leases;

/// <summary>Log messages about budget leases (event ids 380-389, 410-414).</summary>
internal static partial class LeaseLog
{
    [LoggerMessage(380, LogLevel.Debug, "Lease {LeaseId} of key '{KeyId}' for {Holder}: granted {Granted} micro-USD ({Reason})")]
    public static partial void Granted(ILogger logger, string leaseId, string keyId, string holder, long granted, string reason);

    [LoggerMessage(381, LogLevel.Information, "Recalled the leases of key '{KeyId}' (run '{RunId}'): a call was denied at the cap while they held unused budget")]
    public static partial void Recalled(ILogger logger, string keyId, string runId);

    [LoggerMessage(382, LogLevel.Information, "{Count} leases ended ({How}), freeing {Freed} micro-USD")]
    public static partial void Ended(ILogger logger, int count, string how, long freed);

    [LoggerMessage(383, LogLevel.Error, "Expiring budget leases failed; it is tried again shortly")]
    public static partial void SweepFailed(ILogger logger, Exception exception);

    [LoggerMessage(384, LogLevel.Warning, "Telling the other replicas about a lease event of key '{KeyId}' failed ({Reason}); their processes learn of it at the lease's end")]
    public static partial void RelayFailed(ILogger logger, string keyId, string reason);

    [LoggerMessage(385, LogLevel.Warning, "Marking the leases of a process whose key event stream ended failed ({Reason}); they are not shown as stranded")]
    public static partial void StrandedMarkFailed(ILogger logger, string reason);

    [LoggerMessage(386, LogLevel.Debug, "{Count} leased calls of client '{ClientId}' were not recorded (known already, or not its lease)")]
    public static partial void LeasedCallsIgnored(ILogger logger, string clientId, int count);

    [LoggerMessage(410, LogLevel.Information, "Voided {Count} leases of revoked client '{ClientId}', freeing {Freed} micro-USD")]
    public static partial void CredentialLeasesVoided(ILogger logger, int count, string clientId, long freed);

    [LoggerMessage(411, LogLevel.Error, "Voiding the leases of revoked client '{ClientId}' failed; they end at their TTL")]
    public static partial void CredentialLeasesVoidFailed(ILogger logger, string clientId, Exception exception);
}
