using Microsoft.Extensions.Logging;

namespace Keybrake.Client;

/// <summary>Messages of the lookups vendor profiles make before a decision. Neither the answer nor the secret is logged.</summary>
internal static partial class Log
{
    [LoggerMessage(200, LogLevel.Warning, "Keybrake's lookup of {ObjectId} at {Vendor} for key '{KeyId}' failed: {Failure}")]
    public static partial void LookupFailed(ILogger logger, string objectId, string vendor, string keyId, string failure);

    [LoggerMessage(201, LogLevel.Debug, "Keybrake looked up {ObjectId} at {Vendor} for key '{KeyId}': status {Status} in {LatencyMicroseconds} µs")]
    public static partial void LookedUp(ILogger logger, string objectId, string vendor, string keyId, int status, long latencyMicroseconds);
}
