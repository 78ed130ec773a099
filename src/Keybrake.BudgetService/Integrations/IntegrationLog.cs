namespace Keybrake.BudgetService.Integrations;

/// <summary>The intake integrations' log messages (event ids 400-409). None takes a credential: a caller is named by its client id.</summary>
internal static partial class IntegrationLog
{
    [LoggerMessage(400, LogLevel.Information, "Client '{ClientId}' may post to the intake integrations {Integrations}")]
    public static partial void CredentialAllowed(ILogger logger, string clientId, string integrations);

    [LoggerMessage(401, LogLevel.Warning, "Refused a call to {Path}: {Reason}")]
    public static partial void IntakeRejected(ILogger logger, string path, string reason);

    [LoggerMessage(402, LogLevel.Warning, "Refused LiteLLM spend logs from client '{ClientId}': {Problem}")]
    public static partial void SpendLogsRefused(ILogger logger, string clientId, string problem);

    [LoggerMessage(403, LogLevel.Information, "LiteLLM spend logs from client '{ClientId}' ({Format}): {Accepted} counted, {Duplicates} already counted, {WithoutRun} without a run id")]
    public static partial void SpendLogsAccepted(ILogger logger, string clientId, string format, int accepted, int duplicates, int withoutRun);

    [LoggerMessage(404, LogLevel.Warning, "{Count} LiteLLM spend logs from client '{ClientId}' name no run (no x-agent-run-id, no trace_id): counted under no run, their LLM spend is in no run's total (first: {LogId})")]
    public static partial void SpendLogsWithoutRun(ILogger logger, string clientId, int count, string logId);

    [LoggerMessage(405, LogLevel.Error, "LiteLLM spend logs from client '{ClientId}' could not be stored ({Reason}); nothing of the body was counted")]
    public static partial void SpendLogsNotStored(ILogger logger, string clientId, string reason);
}
