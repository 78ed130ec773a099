using Microsoft.Extensions.Logging;

namespace Keybrake.Client.Central;

/// <summary>Messages about outbox files other processes left behind.</summary>
internal static partial class Log
{
    [LoggerMessage(75, LogLevel.Information, "Shipped {Count} audit records left in the outbox {Path} by a process that has stopped")]
    public static partial void LeftoverOutboxShipped(ILogger logger, int count, string path);

    [LoggerMessage(76, LogLevel.Warning, "The outbox {Path}, left by a process that has stopped, keeps records the budget service refused or set aside; it stays for an operator to read")]
    public static partial void LeftoverOutboxKept(ILogger logger, string path);
}
