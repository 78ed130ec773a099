namespace Keybrake.Client;

/// <summary>
/// Stamps the current run id on outgoing requests of clients that Keybrake does not guard (LiteLLM,
/// internal services), so their logs join Keybrake's audit trail on one column.
/// </summary>
internal sealed class RunIdHeaderHandler : DelegatingHandler
{
    /// <summary>The header Keybrake and its peers agree on for the agent's run.</summary>
    public const string AgentRunIdHeader = "x-agent-run-id";

    /// <summary>LiteLLM stores this header in <c>LiteLLM_SpendLogs.session_id</c>.</summary>
    public const string LiteLlmSessionIdHeader = "x-litellm-session-id";

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        Stamp(request);
        return base.SendAsync(request, cancellationToken);
    }

    protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        Stamp(request);
        return base.Send(request, cancellationToken);
    }

    private static void Stamp(HttpRequestMessage request)
    {
        var runId = KeybrakeRun.CurrentId;
        if (runId is null)
        {
            return;
        }

        // A header the caller set explicitly wins: it knows better which run the call belongs to.
        if (!request.Headers.Contains(AgentRunIdHeader))
        {
            request.Headers.TryAddWithoutValidation(AgentRunIdHeader, runId);
        }

        if (!request.Headers.Contains(LiteLlmSessionIdHeader))
        {
            request.Headers.TryAddWithoutValidation(LiteLlmSessionIdHeader, runId);
        }
    }
}
