using Microsoft.Extensions.Logging;

namespace Keybrake.Client.Central;

/// <summary>Messages of the work done off the request path in central mode: sending, shipping, setting aside.</summary>
internal static partial class Log
{
    [LoggerMessage(60, LogLevel.Error, "The Keybrake budget service failed {Call} ({Kind}): {Problem}; the call fails closed")]
    public static partial void BudgetServiceFailed(ILogger logger, string call, string kind, string problem);

    [LoggerMessage(61, LogLevel.Error, "Sending {Count} settlements to the budget service failed unexpectedly; they are set aside and sending goes on")]
    public static partial void SettleFailedUnexpectedly(ILogger logger, int count, Exception exception);

    [LoggerMessage(62, LogLevel.Error, "{Count} settlements refused by the budget service could not be set aside; their reservations stay pending, counted as spent")]
    public static partial void SettlementsNotSetAside(ILogger logger, int count, Exception exception);

    [LoggerMessage(63, LogLevel.Error, "The settlement queue is full: the settlement of reservation {ReservationId} was not queued and the reservation stays pending, counted as spent ({Dropped} dropped so far)")]
    public static partial void SettlementsDropped(ILogger logger, string reservationId, long dropped);

    [LoggerMessage(64, LogLevel.Error, "The budget service refused {Count} settlements for good; they are set aside in the outbox {Path} (table set_aside) and their reservations stay pending, counted as spent: {Problem}")]
    public static partial void SettlementsSetAside(ILogger logger, int count, string path, string problem);
}
