using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;

namespace Keybrake.BudgetService.Tests.Integrations;

/// <summary>LiteLLM's own test payloads (Fixtures/litellm, see its README), and bodies shaped as its generic API callback posts them.</summary>
internal static class LiteLlmFixtures
{
    /// <summary>An OpenAI call with no trace_id: no run. response_cost 0.00022500000000000002, so 225 micro-USD.</summary>
    public const string NoRun = "gcs-pub-sub-standard-logging-payload.json";

    /// <summary>A Bedrock call with trace_id <see cref="BedrockTraceId"/>; response_cost 0.001047, so 1,047 micro-USD.</summary>
    public const string Bedrock = "otel-captured-bedrock-standard-logging-object.json";

    /// <summary>An OpenAI call with trace_id <c>trace-123</c>; response_cost 0.001, so 1,000 micro-USD.</summary>
    public const string Jwt = "otel-jwt-standard-logging-payload.json";

    public const string BedrockTraceId = "4c97150b-b1a3-4dec-bd7a-734786b1b3bc";

    public static readonly string[] All = [NoRun, Bedrock, Jwt];

    public static JsonObject Load(string name) =>
        JsonNode.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "litellm", name)))!.AsObject();

    /// <summary>A fixture with a fresh id (so that tests sharing a database do not meet), otherwise as LiteLLM sent it.</summary>
    public static JsonObject WithId(string name, string id)
    {
        var payload = Load(name);
        payload["id"] = id;
        return payload;
    }

    /// <summary>The bodies one flush of LiteLLM's logger sends in <paramref name="format"/>: one for json_array and ndjson, one per log for single.</summary>
    public static IReadOnlyList<string> Bodies(string format, IReadOnlyList<JsonObject> logs) => format switch
    {
        "json_array" => [new JsonArray([.. logs.Select(log => log.DeepClone())]).ToJsonString()],
        "ndjson" => [string.Join('\n', logs.Select(log => log.ToJsonString()))],
        "single" => [.. logs.Select(log => log.ToJsonString())],
        _ => throw new ArgumentOutOfRangeException(nameof(format), format, null),
    };

    /// <summary>A client of the admin port's REST face presenting <paramref name="token"/> (none when null).</summary>
    public static HttpClient RestClient(TestService service, string? token)
    {
        var http = new HttpClient { BaseAddress = service.Host.RestAddress };
        if (token is not null)
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        return http;
    }

    /// <summary>Posts a body as LiteLLM does: <c>Content-Type: application/json</c> whatever its log_format.</summary>
    public static Task<HttpResponseMessage> PostAsync(HttpClient http, string body, string contentType = "application/json") =>
        http.PostAsync("/v1/integrations/litellm/spend-logs", new StringContent(body, Encoding.UTF8, contentType));

    /// <summary>Issues a credential for the litellm integration only.</summary>
    public static async Task<string> LiteLlmTokenAsync(TestService service, string clientId = "litellm-proxy") =>
        (await service.Admin.CreateClientAsync(new Protocol.CreateClientRequest { ClientId = clientId, Integrations = { "litellm" } })).Token;
}
