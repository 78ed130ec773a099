namespace Keybrake.BudgetService.Alerts;

/// <summary>The alerts' log messages (event ids 350 to 369). None carries a webhook secret or a signature.</summary>
internal static partial class AlertLog
{
    [LoggerMessage(350, LogLevel.Warning, "Alert {AlertId} fired: {Message}")]
    public static partial void Fired(ILogger logger, string alertId, string message);

    [LoggerMessage(351, LogLevel.Information, "Alert {AlertId} delivered to webhook '{Webhook}' after {Attempts} attempts")]
    public static partial void Delivered(ILogger logger, string alertId, string webhook, int attempts);

    [LoggerMessage(352, LogLevel.Warning, "Alert {AlertId} not delivered to webhook '{Webhook}' (attempt {Attempts}: {Error}); retrying at {NextAttempt:O}")]
    public static partial void Retrying(ILogger logger, string alertId, string webhook, int attempts, string error, DateTimeOffset nextAttempt);

    [LoggerMessage(353, LogLevel.Error, "Alert {AlertId} given up for webhook '{Webhook}' after {Attempts} attempts (last: {Error})")]
    public static partial void GaveUp(ILogger logger, string alertId, string webhook, int attempts, string error);

    [LoggerMessage(354, LogLevel.Error, "Evaluating alerts failed; later signals are still evaluated")]
    public static partial void EvaluationFailed(ILogger logger, Exception exception);

    [LoggerMessage(355, LogLevel.Error, "Sending alerts failed; the sender tries again")]
    public static partial void SendingFailed(ILogger logger, Exception exception);

    [LoggerMessage(356, LogLevel.Warning, "Alert signals are arriving faster than they are evaluated; {Count} dropped (a later signal of the same key evaluates its spend again)")]
    public static partial void SignalsDropped(ILogger logger, long count);

    [LoggerMessage(357, LogLevel.Information, "Forgot {Count} alerts fired before {Before:O} with nothing left to send")]
    public static partial void Pruned(ILogger logger, int count, DateTimeOffset before);
}
