using System.Data.Common;
using Keybrake.BudgetService.Clients;
using Keybrake.BudgetService.Store;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Net.Http.Headers;

namespace Keybrake.BudgetService.Integrations.LiteLlm;

/// <summary>
/// <c>POST /v1/integrations/litellm/spend-logs</c> on the admin port: where LiteLLM's generic API callback posts its
/// spend logs. The caller presents a client credential that names the <c>litellm</c> integration (401 without a valid
/// one, the admin token included; 403 for a credential without the integration), checked before the body is read. The
/// body (at most <see cref="MaxBodyBytes"/>, else 413; JSON or NDJSON, else 415) is read whole, checked whole (400
/// naming the item and field, nothing stored) and stored in one transaction. The reply counts what was new, what had been
/// counted before, and what named no run.
/// </summary>
internal static class LiteLlmSpendLogsEndpoint
{
    public const string Path = "/v1/integrations/litellm/spend-logs";

    /// <summary>The largest body taken: LiteLLM's default batch of 512 logs with their messages fits many times over.</summary>
    public const long MaxBodyBytes = 8 * 1024 * 1024;

    private static readonly string[] s_mediaTypes = ["application/json", "application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines"];

    public static void MapLiteLlmSpendLogs(this IEndpointRouteBuilder endpoints) =>
        endpoints.MapPost(Path, PostAsync).WithMetadata(new IntakeEndpoint());

    private static async Task PostAsync(HttpContext http, ClientRegistry clients, ILlmSpendStore store, Alerts.AlertSignals alerts, TimeProvider time, ILoggerFactory loggers)
    {
        var logger = loggers.CreateLogger(typeof(LiteLlmSpendLogsEndpoint).FullName!);
        var token = ClientTokens.FromHeader(http.Request.Headers.Authorization);
        var client = clients.Authenticate(token);
        if (client is null || client.IsRevoked)
        {
            var reason = client is null ? (token is null ? "no client credential" : "not a credential the service issued") : $"credential '{client.Id}' is revoked";
            IntegrationLog.IntakeRejected(logger, Path, reason);
            http.Response.Headers.WWWAuthenticate = "Bearer";
            http.Response.Headers.Connection = "close";
            await ReplyAsync(http, StatusCodes.Status401Unauthorized, $"a valid client credential with the litellm integration is required (Authorization: Bearer kbc_...): {reason}");
            return;
        }

        if (!client.Allows(KnownIntegrations.LiteLlm))
        {
            IntegrationLog.IntakeRejected(logger, Path, $"credential '{client.Id}' lacks the litellm integration");
            http.Response.Headers.Connection = "close";
            await ReplyAsync(http, StatusCodes.Status403Forbidden, $"client credential '{client.Id}' may not post LiteLLM spend logs: issue one with the litellm integration (keybrake clients create <id> --integration litellm)");
            return;
        }

        if (!AcceptedContentType(http.Request.ContentType))
        {
            await RefuseAsync(http, logger, client.Id, StatusCodes.Status415UnsupportedMediaType, $"the body must be JSON or NDJSON (Content-Type: application/json, as LiteLLM sends, or application/x-ndjson), not '{ShownValue.Of(http.Request.ContentType ?? "none")}'");
            return;
        }

        var body = await ReadBodyAsync(http);
        if (body is null)
        {
            await RefuseAsync(http, logger, client.Id, StatusCodes.Status413PayloadTooLarge, $"the body is larger than {MaxBodyBytes / 1024 / 1024} MiB: lower LiteLLM's batch_size");
            return;
        }

        var receivedAt = time.GetUtcNow();
        var batch = LiteLlmPayloads.Parse(body.Value, receivedAt);
        if (batch.Problem is { } problem)
        {
            await RefuseAsync(http, logger, client.Id, StatusCodes.Status400BadRequest, problem);
            return;
        }

        var entries = batch.Logs.Select(log => new LlmSpendEntry(log.LogId, log.RunId, log.CostMicroUsd, log.Model, log.Provider, log.PromptTokens,
            log.CompletionTokens, log.Status, log.StartedAt, client.Id, LiteLlmAudit.Record(log, client.Id))).ToList();
        LlmSpendOutcome outcome;
        try
        {
            outcome = await store.RecordLlmSpendAsync(entries, receivedAt, http.RequestAborted);
        }
        catch (DbException exception)
        {
            IntegrationLog.SpendLogsNotStored(logger, client.Id, exception.Message);
            await ReplyAsync(http, StatusCodes.Status503ServiceUnavailable, "the budget store cannot be written just now; nothing of this body was counted, send it again");
            return;
        }

        if (outcome.Accepted > 0)
        {
            // Off the request's path: the alert evaluator reads the runs' totals and their keys' spend itself.
            alerts.LlmSpend(batch.Logs.Select(log => log.RunId), receivedAt);
        }

        var withoutRun = batch.Logs.Where(log => log.RunId.Length == 0).ToList();
        if (withoutRun.Count > 0)
        {
            IntegrationLog.SpendLogsWithoutRun(logger, client.Id, withoutRun.Count, ShownValue.Of(withoutRun[0].LogId));
        }

        IntegrationLog.SpendLogsAccepted(logger, client.Id, batch.Format, outcome.Accepted, outcome.Duplicates, withoutRun.Count);
        await http.Response.WriteAsJsonAsync(
            new { accepted = outcome.Accepted, duplicates = outcome.Duplicates, without_run = withoutRun.Count, format = batch.Format },
            http.RequestAborted);
    }

    /// <summary>The whole body, or <see langword="null"/> when it is larger than <see cref="MaxBodyBytes"/>.</summary>
    private static async Task<ReadOnlyMemory<byte>?> ReadBodyAsync(HttpContext http)
    {
        if (http.Request.ContentLength > MaxBodyBytes)
        {
            return null;
        }

        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = MaxBodyBytes;
        }

        using var buffer = new MemoryStream();
        try
        {
            var chunk = new byte[81920];
            int read;
            while ((read = await http.Request.Body.ReadAsync(chunk, http.RequestAborted)) > 0)
            {
                if (buffer.Length + read > MaxBodyBytes)
                {
                    return null;
                }

                buffer.Write(chunk, 0, read);
            }
        }
        catch (BadHttpRequestException exception) when (exception.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return null;
        }

        return buffer.GetBuffer().AsMemory(0, (int)buffer.Length);
    }

    private static bool AcceptedContentType(string? contentType)
    {
        if (!MediaTypeHeaderValue.TryParse(contentType, out var parsed) || parsed.MediaType.Value is not { } mediaType)
        {
            return false;
        }

        var utf8 = parsed.Charset.Value is not { Length: > 0 } charset || charset.Equals("utf-8", StringComparison.OrdinalIgnoreCase) || charset.Equals("utf8", StringComparison.OrdinalIgnoreCase);
        return utf8 && s_mediaTypes.Contains(mediaType, StringComparer.OrdinalIgnoreCase);
    }

    private static Task RefuseAsync(HttpContext http, ILogger logger, string clientId, int status, string message)
    {
        IntegrationLog.SpendLogsRefused(logger, clientId, message);
        return ReplyAsync(http, status, message);
    }

    private static Task ReplyAsync(HttpContext http, int status, string message)
    {
        http.Response.StatusCode = status;
        return http.Response.WriteAsJsonAsync(new { code = status, message }, http.RequestAborted);
    }
}
