using Microsoft.Extensions.Logging;

namespace Keybrake.Client;

/// <summary>Messages of settlements that went past a cap.</summary>
internal static partial class Log
{
    [LoggerMessage(240, LogLevel.Warning, "Key '{KeyId}' ({Vendor}) is OVER its {Scope} cap of {CapMicroUsd} µUSD for {Window}: a settlement pushed settled spend to {SettledMicroUsd} µUSD, {OverrunMicroUsd} µUSD over (a price above its estimate; the reservation fit the cap). New calls are denied until the window ends or the cap is raised")]
    public static partial void OverCap(ILogger logger, string keyId, string vendor, string scope, long capMicroUsd, string window, long settledMicroUsd, long overrunMicroUsd);
}
