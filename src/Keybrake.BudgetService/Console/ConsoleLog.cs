namespace Keybrake.BudgetService;

/// <summary>The console's log messages (event ids 370 to 379). None of them takes the admin token or a session cookie.</summary>
internal static partial class Log
{
    [LoggerMessage(370, LogLevel.Warning, "Reservation '{ReservationId}' of key '{KeyId}' {Outcome} by an operator")]
    public static partial void ReservationResolved(ILogger logger, string reservationId, string keyId, string outcome);

    [LoggerMessage(371, LogLevel.Warning, "Console sign-in refused from {Remote}: not the admin token")]
    public static partial void ConsoleSignInRefused(ILogger logger, string remote);

    [LoggerMessage(372, LogLevel.Information, "Console session started from {Remote}")]
    public static partial void ConsoleSignedIn(ILogger logger, string remote);

    [LoggerMessage(373, LogLevel.Information, "Console session ended by sign-out")]
    public static partial void ConsoleSignedOut(ILogger logger);

    [LoggerMessage(374, LogLevel.Warning, "Console: key '{KeyId}' revoked={Revoked} from the console")]
    public static partial void ConsoleRevocation(ILogger logger, string keyId, bool revoked);
}
