using Microsoft.Extensions.Logging;

namespace Keybrake.Client;

/// <summary>Messages about reservations that settle when the vendor prices the object later (a Twilio message).</summary>
internal static partial class Log
{
    [LoggerMessage(226, LogLevel.Error, "Keybrake failed to report the price of {Vendor} object '{ObjectId}' of key '{KeyId}'; its reservation, if any, stays counted at its estimate")]
    public static partial void ObjectSettleFailed(ILogger logger, string vendor, string objectId, string keyId, Exception exception);
}
