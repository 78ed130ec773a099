using System.Text.Json;

namespace Keybrake.BudgetService.Integrations.LiteLlm;

/// <summary>
/// The run a LiteLLM spend log belongs to. Keybrake's run header, <c>x-agent-run-id</c>, where LiteLLM logged it
/// (<c>metadata.requester_custom_headers</c>, or <c>metadata.spend_logs_metadata</c>), names it explicitly and comes first;
/// else <c>trace_id</c>, where LiteLLM puts the session id <c>x-litellm-session-id</c> (or <c>x-litellm-trace-id</c>) set.
/// The explicit header comes first because LiteLLM fills <c>trace_id</c> with an id of its own when the request named
/// no session: a call that carried only <c>x-agent-run-id</c> would otherwise land in a run nobody knows. A payload with
/// neither is counted under no run (''). A run id is checked as everywhere else (<see cref="RunIds"/>).
/// </summary>
internal static class LiteLlmRunIds
{
    public const string AgentRunIdHeader = "x-agent-run-id";

    /// <summary>The run id ('' for none), or the field that holds a bad one and why.</summary>
    public static (string RunId, string? Field, string? Problem) Of(JsonElement item)
    {
        if (LiteLlmJson.Find(item, "metadata") is { } metadata && metadata.ValueKind == JsonValueKind.Object)
        {
            foreach (var holder in (string[])["requester_custom_headers", "spend_logs_metadata"])
            {
                if (LiteLlmJson.Find(metadata, holder) is { } headers && LiteLlmJson.Header(headers, AgentRunIdHeader) is { } header)
                {
                    return Checked(header, $"metadata.{holder}.{AgentRunIdHeader}");
                }
            }
        }

        if (LiteLlmJson.Find(item, "trace_id") is { } traceId)
        {
            return Checked(traceId, "trace_id");
        }

        return (string.Empty, null, null);
    }

    private static (string RunId, string? Field, string? Problem) Checked(JsonElement value, string field)
    {
        if (value.ValueKind != JsonValueKind.String)
        {
            return (string.Empty, field, $"must be a string, not {LiteLlmJson.KindName(value.ValueKind)}");
        }

        var runId = value.GetString()!;
        if (runId.Length == 0)
        {
            return (string.Empty, null, null);
        }

        try
        {
            RunIds.Validate(runId);
            return (runId, null, null);
        }
        catch (ArgumentException exception)
        {
            return (string.Empty, field, exception.Message.Split(" (Parameter", 2)[0]);
        }
    }
}
