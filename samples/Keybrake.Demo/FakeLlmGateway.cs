using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace Keybrake.Client.Demo;

/// <summary>
/// A stand-in for a LiteLLM proxy: a WireMock.Net server answering chat completions (with their token usage), and,
/// as LiteLLM's <c>generic_api</c> callback does, a spend log (LiteLLM's <c>StandardLoggingPayload</c>) for each call,
/// posted to the budget service's intake with the gateway's own credential. The run id is the session id the agent
/// sent in <c>x-litellm-session-id</c>, which LiteLLM puts in the log's <c>trace_id</c>. LiteLLM sends its logs in
/// batches shortly after the calls; this gateway posts each one at once, so that the demo's order of events is fixed.
/// </summary>
internal sealed class FakeLlmGateway : IDisposable
{
    /// <summary>A long-context reasoning model's list prices ($15 and $60 per million tokens), in micro-USD per token.</summary>
    private const long InputMicrosPerToken = 15;
    private const long OutputMicrosPerToken = 60;

    private readonly WireMockServer _server;
    private readonly HttpClient _gateway;
    private readonly HttpClient _intake;
    private int _calls;

    private FakeLlmGateway(WireMockServer server, Uri intake, string intakeToken)
    {
        _server = server;
        _gateway = new HttpClient { BaseAddress = new Uri(server.Url!) };
        _intake = new HttpClient { BaseAddress = intake };
        _intake.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", intakeToken);
    }

    /// <summary>Starts the gateway on a loopback port; its spend logs go to <paramref name="intake"/> (the service's admin REST address).</summary>
    public static FakeLlmGateway Start(Uri intake, string intakeToken)
    {
        var server = WireMockServer.Start();
        server.Given(Request.Create().WithPath("/chat/completions").UsingPost())
            .RespondWith(Response.Create().WithStatusCode(200).WithBodyAsJson(new
            {
                id = "chatcmpl-demo",
                @object = "chat.completion",
                model = "o1",
                choices = new[] { new { index = 0, finish_reason = "stop", message = new { role = "assistant", content = "The customer asked for a refund: refund the order." } } },
                usage = new { prompt_tokens = 180_000, completion_tokens = 24_000, total_tokens = 204_000 },
            }));
        return new FakeLlmGateway(server, intake, intakeToken);
    }

    /// <summary>One chat completion for the run, and its spend log posted to the intake; returns what it cost.</summary>
    public async Task<LlmCall> ThinkAsync(string runId, string prompt, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/chat/completions")
        {
            Content = JsonContent.Create(new { model = "o1", messages = new[] { new { role = "user", content = prompt } } }),
        };
        request.Headers.Add("x-litellm-session-id", runId);
        using var response = await _gateway.SendAsync(request, cancellationToken);
        response.EnsureSuccessStatusCode();
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancellationToken));
        var usage = body.RootElement.GetProperty("usage");
        var (input, output) = (usage.GetProperty("prompt_tokens").GetInt64(), usage.GetProperty("completion_tokens").GetInt64());
        var cost = Usd.FromMicros((input * InputMicrosPerToken) + (output * OutputMicrosPerToken));

        var number = Interlocked.Increment(ref _calls);
        var log = new JsonObject
        {
            ["id"] = $"chatcmpl-demo-{runId}-{number.ToString(CultureInfo.InvariantCulture)}",
            ["trace_id"] = runId,
            ["call_type"] = "acompletion",
            ["status"] = "success",
            ["model"] = "o1",
            ["custom_llm_provider"] = "openai",
            ["response_cost"] = cost.Micros / 1_000_000m, // LiteLLM reports a float of dollars
            ["prompt_tokens"] = input,
            ["completion_tokens"] = output,
            ["total_tokens"] = input + output,
            ["startTime"] = TimeProvider.System.GetUtcNow().ToUnixTimeMilliseconds() / 1000.0,
            ["metadata"] = new JsonObject { ["requester_custom_headers"] = new JsonObject { ["x-litellm-session-id"] = runId } },
        };
        using var posted = await _intake.PostAsync(
            "/v1/integrations/litellm/spend-logs",
            new StringContent(new JsonArray(log).ToJsonString(), System.Text.Encoding.UTF8, "application/json"),
            cancellationToken);
        if (!posted.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"The budget service refused the spend log: {(int)posted.StatusCode} {await posted.Content.ReadAsStringAsync(cancellationToken)}");
        }

        return new LlmCall(input + output, cost);
    }

    public void Dispose()
    {
        _gateway.Dispose();
        _intake.Dispose();
        _server.Stop();
        _server.Dispose();
    }
}

/// <summary>One LLM call: its tokens and what it cost.</summary>
internal sealed record LlmCall(long Tokens, Usd Cost);
