using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Keybrake.BudgetService.Store;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Client.TestUtilities.Logging;
using Keybrake.Protocol;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using static Keybrake.BudgetService.Tests.Integrations.LiteLlmFixtures;

namespace Keybrake.BudgetService.Tests.Integrations;

/// <summary>
/// LiteLLM's spend logs posted to the real service (Kestrel on loopback) as its generic API callback posts them: counted
/// once per log id into their run's LLM total, shown in the audit trail, and refused whole when anything is wrong.
/// </summary>
[TestFixture(StoreEngine.Sqlite)]
[TestFixture(StoreEngine.PostgreSql)]
public sealed class LiteLlmIntakeTests(StoreEngine engine)
{
    [TestCase("json_array")]
    [TestCase("ndjson")]
    [TestCase("single")]
    public async Task Each_fixture_is_counted_into_its_run_in_each_log_format(string format)
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("a", "100"));
        using var http = RestClient(service, await LiteLlmTokenAsync(service));

        var replies = new List<JsonElement>();
        foreach (var body in Bodies(format, [.. All.Select(Load)]))
        {
            using var response = await PostAsync(http, body);
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), await response.Content.ReadAsStringAsync());
            replies.Add(JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
        }

        var store = Store(service);
        Assert.Multiple(async () =>
        {
            Assert.That(replies.Sum(reply => reply.GetProperty("accepted").GetInt32()), Is.EqualTo(3));
            Assert.That(replies.Sum(reply => reply.GetProperty("duplicates").GetInt32()), Is.Zero);
            Assert.That(replies.Sum(reply => reply.GetProperty("without_run").GetInt32()), Is.EqualTo(1), "the gcs fixture's trace_id is null");
            Assert.That(replies.Select(reply => reply.GetProperty("format").GetString()).Distinct(), Is.EqualTo(new[] { format }));
            Assert.That(await Total(store, BedrockTraceId), Is.EqualTo((1_047L, 1L)), "0.001047 USD");
            Assert.That(await Total(store, "trace-123"), Is.EqualTo((1_000L, 1L)));
            Assert.That(await Total(store, string.Empty), Is.EqualTo((225L, 1L)), "0.00022500000000000002 USD, under no run");
        });
    }

    [Test]
    public async Task A_redelivered_log_counts_once_even_when_two_deliveries_race()
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("a", "100"));
        using var http = RestClient(service, await LiteLlmTokenAsync(service));
        var logs = Enumerable.Range(0, 20).Select(i => WithId(Jwt, $"chatcmpl-race-{i}")).ToList();
        var body = Bodies("json_array", logs)[0];

        // Two deliveries of one batch at once (LiteLLM's flush and a retry, or two proxies), then a third afterwards.
        var racing = await Task.WhenAll(Enumerable.Range(0, 2).Select(async _ =>
        {
            using var response = await PostAsync(http, body);
            return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
        }));
        using var again = await PostAsync(http, Bodies("ndjson", [logs[3], logs[3]])[0]);
        var againReply = JsonDocument.Parse(await again.Content.ReadAsStringAsync()).RootElement;

        var audit = await service.Admin.QueryAuditAsync(new QueryAuditRequest { RunId = "trace-123", PageSize = 1000 });
        Assert.Multiple(async () =>
        {
            Assert.That(racing.Sum(reply => reply.GetProperty("accepted").GetInt32()), Is.EqualTo(20), "each log counted by one delivery");
            Assert.That(racing.Sum(reply => reply.GetProperty("duplicates").GetInt32()), Is.EqualTo(20), "and recognised by the other");
            Assert.That((againReply.GetProperty("accepted").GetInt32(), againReply.GetProperty("duplicates").GetInt32()), Is.EqualTo((0, 2)));
            Assert.That(await Total(Store(service), "trace-123"), Is.EqualTo((20_000L, 20L)), "20 logs of $0.001, once each");
            Assert.That(audit.Records, Has.Count.EqualTo(20), "one audit record per log");
        });
    }

    [Test]
    public async Task The_run_id_is_x_agent_run_id_where_litellm_logged_it_else_the_trace_id()
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("a", "100"));
        using var http = RestClient(service, await LiteLlmTokenAsync(service));

        // Adapted: the proxy logged the request's x- headers; this one also carried Keybrake's run header.
        var stamped = WithId(Bedrock, "chatcmpl-stamped");
        stamped["metadata"]!["requester_custom_headers"]!["X-Agent-Run-Id"] = "refund-run-7";
        var viaSpendLogsMetadata = WithId(Jwt, "chatcmpl-spend-metadata");
        viaSpendLogsMetadata["trace_id"] = null;
        viaSpendLogsMetadata["metadata"]!["spend_logs_metadata"] = new JsonObject { ["x-agent-run-id"] = "refund-run-7" };
        var traced = Load(Jwt);
        using var response = await PostAsync(http, Bodies("json_array", [stamped, viaSpendLogsMetadata, traced])[0]);
        var reply = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;

        Assert.Multiple(async () =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(reply.GetProperty("without_run").GetInt32(), Is.Zero);
            Assert.That(await Total(Store(service), "refund-run-7"), Is.EqualTo((2_047L, 2L)), "x-agent-run-id wins over LiteLLM's own trace id");
            Assert.That(await Total(Store(service), BedrockTraceId), Is.EqualTo((0L, 0L)));
            Assert.That(await Total(Store(service), "trace-123"), Is.EqualTo((1_000L, 1L)), "the session id LiteLLM put in trace_id");
        });
    }

    [Test]
    public async Task A_log_without_a_run_is_counted_under_no_run_and_reported()
    {
        var logs = new CapturingLoggerProvider();
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("a", "100"), configure: builder => builder.Logging.AddProvider(logs));
        using var http = RestClient(service, await LiteLlmTokenAsync(service));
        var emptyTrace = WithId(Jwt, "chatcmpl-empty-trace");
        emptyTrace["trace_id"] = string.Empty;

        using var response = await PostAsync(http, Bodies("json_array", [Load(NoRun), emptyTrace])[0]);
        var reply = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        var audit = await service.Admin.QueryAuditAsync(new QueryAuditRequest { KeyId = "llm", PageSize = 100 });

        Assert.Multiple(async () =>
        {
            Assert.That((reply.GetProperty("accepted").GetInt32(), reply.GetProperty("without_run").GetInt32()), Is.EqualTo((2, 2)));
            Assert.That(await Total(Store(service), string.Empty), Is.EqualTo((1_225L, 2L)), "counted, under no run");
            Assert.That(audit.Records.Select(r => r.RunId), Is.EqualTo(new[] { string.Empty, string.Empty }));
            Assert.That(logs.Logs.Where(l => l.EventId.Id == 404).Select(l => l.Message).SingleOrDefault(),
                Does.Contain("2 LiteLLM spend logs from client 'litellm-proxy' name no run"));
        });
    }

    [TestCase("[{\"id\": \"x\", ", "the body is not valid JSON")]
    [TestCase("{\"id\": \"a\", \"response_cost\": NaN}", "the body is not valid JSON")]
    [TestCase("[{\"id\": \"a\", \"model\": \"gpt-4o\"}]", "item 1: response_cost is missing")]
    [TestCase("[{\"id\": \"a\", \"response_cost\": -0.001}]", "item 1: response_cost must not be negative")]
    [TestCase("[{\"id\": \"a\", \"response_cost\": \"0.001\"}]", "item 1: response_cost must be a number of US dollars, not a string")]
    [TestCase("[{\"id\": \"a\", \"response_cost\": 1e300}]", "item 1: response_cost is out of range")]
    [TestCase("[{\"response_cost\": 0.001}]", "item 1: id is missing")]
    [TestCase("[{\"id\": 7, \"response_cost\": 0.001}]", "item 1: id must be a string, not a number")]
    [TestCase("[{\"id\": \"a\", \"response_cost\": 0.001, \"prompt_tokens\": \"ten\"}]", "item 1: prompt_tokens must be a whole number of tokens, not a string")]
    [TestCase("[{\"id\": \"a\", \"response_cost\": 0.001, \"completion_tokens\": 1.5}]", "item 1: completion_tokens must be a whole number of tokens, not 1.5")]
    [TestCase("[{\"id\": \"a\", \"response_cost\": 0.001, \"status\": \"maybe\"}]", "item 1: status must be \"success\" or \"failure\"")]
    [TestCase("[{\"id\": \"a\", \"response_cost\": 0.001, \"trace_id\": \"run with spaces\"}]", "item 1: trace_id A run id is made of visible ASCII characters")]
    [TestCase("[{\"id\": \"a\", \"response_cost\": 0.001, \"startTime\": true}]", "item 1: startTime must be a number of seconds since the Unix epoch, not a boolean")]
    [TestCase("[42]", "item 1: is a number, not a spend log object")]
    [TestCase("", "the body holds no spend log")]
    public async Task A_bad_or_partial_body_is_refused_whole_naming_the_item_and_field_and_stores_nothing(string badItems, string expected)
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("a", "100"));
        using var http = RestClient(service, await LiteLlmTokenAsync(service));

        // A good log first (item 0), then the bad part: the good one must not be counted either.
        var good = WithId(Jwt, "chatcmpl-good").ToJsonString();
        var body = badItems.StartsWith('[') ? $"[{good}, {badItems[1..]}" : badItems.Length == 0 ? string.Empty : badItems;
        using var response = await PostAsync(http, body);
        var text = await response.Content.ReadAsStringAsync();
        var audit = await service.Admin.QueryAuditAsync(new QueryAuditRequest { KeyId = "llm" });

        Assert.Multiple(async () =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest), text);
            Assert.That(JsonDocument.Parse(text).RootElement.GetProperty("message").GetString(), Does.StartWith(expected.Replace("item 1", badItems.StartsWith('[') ? "item 1" : "item 0", StringComparison.Ordinal)));
            Assert.That(text, Does.Not.Contain("\n"), "one line");
            Assert.That(await Total(Store(service), "trace-123"), Is.EqualTo((0L, 0L)), "nothing of the body was stored");
            Assert.That(audit.Records, Is.Empty);
        });
    }

    [Test]
    public async Task A_body_too_large_is_413_and_a_body_of_another_type_is_415()
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("a", "100"));
        using var http = RestClient(service, await LiteLlmTokenAsync(service));
        var huge = WithId(Jwt, "chatcmpl-huge");
        huge["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = new string('x', 9 * 1024 * 1024) });

        using var tooLarge = await PostAsync(http, huge.ToJsonString());
        using var plain = await PostAsync(http, Load(Jwt).ToJsonString(), "text/plain");
        using var ndjson = await PostAsync(http, Bodies("ndjson", [Load(Jwt)])[0], "application/x-ndjson");

        Assert.Multiple(async () =>
        {
            Assert.That(tooLarge.StatusCode, Is.EqualTo(HttpStatusCode.RequestEntityTooLarge));
            Assert.That(await tooLarge.Content.ReadAsStringAsync(), Does.Contain("larger than 8 MiB"));
            Assert.That(plain.StatusCode, Is.EqualTo(HttpStatusCode.UnsupportedMediaType));
            Assert.That(await plain.Content.ReadAsStringAsync(), Does.Contain("text/plain"));
            Assert.That(ndjson.StatusCode, Is.EqualTo(HttpStatusCode.OK), "an NDJSON content type is taken too");
            Assert.That(await Total(Store(service), "trace-123"), Is.EqualTo((1_000L, 1L)), "only the accepted body counted");
        });
    }

    [Test]
    public async Task The_audit_export_and_query_show_the_llm_lines_beside_the_saas_calls_of_the_run()
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("a", "100"));
        using var http = RestClient(service, await LiteLlmTokenAsync(service));
        var failed = WithId(Jwt, "chatcmpl-failed");
        failed["status"] = "failure";
        failed["response_cost"] = 0;
        using var posted = await PostAsync(http, Bodies("json_array", [Load(Jwt), failed])[0]);
        Assert.That(posted.StatusCode, Is.EqualTo(HttpStatusCode.OK));

        using var admin = RestClient(service, BudgetServiceHost.AdminToken);
        var export = await admin.GetStringAsync("/v1/audit/export?format=jsonl&run_id=trace-123");
        var lines = export.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => JsonDocument.Parse(line).RootElement).ToList();
        var query = await service.Admin.QueryAuditAsync(new QueryAuditRequest { RunId = "trace-123", Vendor = "llm" });
        var success = query.Records.Single(r => r.IdempotencyKey == "test-id-123");

        Assert.Multiple(async () =>
        {
            Assert.That(lines, Has.Count.EqualTo(2), export);
            Assert.That(export, Does.Contain("\"llm\"").And.Contain("gpt-3.5-turbo"));
            Assert.That((success.KeyId, success.Vendor, success.Decision, success.SettledMicroUsd, success.EstimatedMicroUsd), Is.EqualTo(("llm", "llm", "allow", 1_000L, 1_000L)));
            Assert.That(success.Parameters, Does.ContainKey("model").WithValue("gpt-3.5-turbo"));
            Assert.That(success.Parameters, Does.ContainKey("provider").WithValue("openai"));
            Assert.That(success.Parameters, Does.ContainKey("prompt_tokens").WithValue("50"));
            Assert.That(success.Parameters, Does.ContainKey("completion_tokens").WithValue("50"));
            Assert.That(success.ClientId, Is.EqualTo("litellm-proxy"));
            Assert.That(success.TimestampUnixMicros, Is.EqualTo(1_750_615_148_500_000L), "dated by the log's startTime");
            Assert.That(query.Records.Single(r => r.IdempotencyKey == "chatcmpl-failed").Parameters["status"], Is.EqualTo("failure"));
            Assert.That(await Total(Store(service), "trace-123"), Is.EqualTo((1_000L, 2L)), "a failed call counts, at its reported cost");
        });
    }

    private static ILlmSpendStore Store(TestService service) => service.Host.Services.GetRequiredService<ILlmSpendStore>();

    private static async Task<(long Cost, long Calls)> Total(ILlmSpendStore store, string runId) =>
        await store.GetLlmRunTotalAsync(runId, CancellationToken.None) is { } total ? (total.CostMicroUsd, total.Calls) : (0, 0);
}
