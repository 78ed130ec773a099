using System.Net;
using System.Text.Json.Nodes;
using Keybrake.Client.TestUtilities;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Protocol;
using static Keybrake.BudgetService.Tests.Calls;
using static Keybrake.BudgetService.Tests.Integrations.LiteLlmFixtures;

namespace Keybrake.BudgetService.Tests.Alerts;

/// <summary>
/// Run-cap alerts of a key whose run cap includes the run's LLM spend (<c>RunCapIncludes: [ "llm" ]</c>): the LLM spend
/// is posted through the real LiteLLM intake with the litellm credential, the calls through Authorize and Settle, and the
/// alerts read from the service's books and a webhook receiver on loopback; on both store engines.
/// </summary>
[TestFixture(StoreEngine.Sqlite)]
[TestFixture(StoreEngine.PostgreSql)]
public sealed class RunCapLlmAlertTests(StoreEngine engine)
{
    private static Dictionary<string, string?> CombinedKey(string keyId, string runCap)
    {
        var settings = BudgetServiceHost.Key(keyId, "1000", runCap: runCap);
        settings[$"BudgetService:Keys:{keyId}:Policy:RunCapIncludes:0"] = "llm";
        return settings;
    }

    [Test]
    public async Task Forty_dollars_of_LLM_tokens_and_ten_of_calls_fire_the_80_and_100_percent_run_alerts_naming_the_LLM_share_and_a_key_without_llm_counts_only_its_calls()
    {
        using var receiver = new WebhookReceiver();
        await using var service = await TestService.StartAsync(engine, TestService.Settings(
            CombinedKey("refunds", "50"), BudgetServiceHost.Key("saas-only", "1000", runCap: "50"), receiver.Webhook()));
        using var http = RestClient(service, await LiteLlmTokenAsync(service));
        await PostLlmAsync(http, "r1", ("chatcmpl-a1", 25m), ("chatcmpl-a2", 15m));

        // saas-only first: the evaluator takes signals in order, so once refunds' 100% is listed, saas-only's call was evaluated.
        foreach (var keyId in new[] { "saas-only", "refunds" })
        {
            var reserved = await service.Budget.AuthorizeAsync(Authorize(keyId, 10, runId: "r1"));
            Assert.That(reserved.Allowed, Is.True, reserved.Message);
            await service.SettleAsync(Commit(reserved.ReservationId, 10));
        }

        var listed = await Poll.UntilAsync(
            async () => (await service.Admin.ListAlertsAsync(new ListAlertsRequest())).Alerts,
            alerts => alerts.Any(alert => alert.KeyId == "refunds" && alert.ThresholdPercent == 100));
        var posts = await Poll.UntilAsync(() => receiver.Received(), received => received.Count >= 3);

        Assert.Multiple(() =>
        {
            Assert.That(listed.Select(alert => (alert.KeyId, alert.Scope, alert.ThresholdPercent)),
                Is.EquivalentTo(new[] { ("refunds", "run", 50), ("refunds", "run", 80), ("refunds", "run", 100) }),
                "saas-only has $10 of a $50 run cap: the run's $40 of tokens are not its business");
            var full = posts.Single(post => post.Threshold == 100).Json;
            Assert.That(full.GetProperty("message").GetString(),
                Is.EqualTo("100% of the run cap of key 'refunds' for run 'r1' is spent: $50.00 of $50.00, $40.00 of it LLM tokens"));
            Assert.That(full.GetProperty("spent_micro_usd").GetInt64(), Is.EqualTo(Dollars(50)));
            Assert.That(full.GetProperty("llm_spent_micro_usd").GetInt64(), Is.EqualTo(Dollars(40)));
            Assert.That(full.GetProperty("run_id").GetString(), Is.EqualTo("r1"));
            Assert.That(posts.Single(post => post.Threshold == 80).Json.GetProperty("message").GetString(), Does.EndWith(", $40.00 of it LLM tokens"));
            Assert.That(posts, Has.All.Matches<ReceivedAlert>(post => post.SignatureVerifies()));
        });
    }

    [Test]
    public async Task LLM_spend_posted_alone_fires_the_thresholds_it_crosses_for_the_keys_of_the_run_whose_cap_includes_it()
    {
        using var receiver = new WebhookReceiver();
        await using var service = await TestService.StartAsync(engine, TestService.Settings(
            CombinedKey("refunds", "50"), CombinedKey("idle", "50"), BudgetServiceHost.Key("saas-only", "1000", runCap: "50"), receiver.Webhook()));
        using var http = RestClient(service, await LiteLlmTokenAsync(service));

        // $5 of refunds' calls and $20 of saas-only's in run r1: 10% and 40%, nothing fires. "idle" makes no call in r1.
        var refunds = await service.Budget.AuthorizeAsync(Authorize("refunds", 5, runId: "r1"));
        await service.SettleAsync(Commit(refunds.ReservationId, 5));
        await service.Budget.AuthorizeAsync(Authorize("saas-only", 20, runId: "r1"));

        // $40 of tokens: refunds is at $45 of $50 (90%) with no call of its own since.
        await PostLlmAsync(http, "r1", ("chatcmpl-b1", 40m));
        var at90 = await Poll.UntilAsync(
            async () => (await service.Admin.ListAlertsAsync(new ListAlertsRequest())).Alerts,
            alerts => alerts.Any(alert => alert.ThresholdPercent == 80));

        // $7 more: $52 of $50.
        await PostLlmAsync(http, "r1", ("chatcmpl-b2", 7m));
        var listed = await Poll.UntilAsync(
            async () => (await service.Admin.ListAlertsAsync(new ListAlertsRequest())).Alerts,
            alerts => alerts.Any(alert => alert.ThresholdPercent == 100));
        var posts = await Poll.UntilAsync(() => receiver.Received(), received => received.Count >= 3);

        Assert.Multiple(() =>
        {
            Assert.That(at90.Select(alert => (alert.KeyId, alert.ThresholdPercent)), Is.EquivalentTo(new[] { ("refunds", 50), ("refunds", 80) }));
            Assert.That(listed.Select(alert => (alert.KeyId, alert.ThresholdPercent)), Is.EquivalentTo(new[] { ("refunds", 50), ("refunds", 80), ("refunds", 100) }),
                "saas-only's cap does not include tokens; idle has no call in the run");
            Assert.That(posts.Single(post => post.Threshold == 80).Json.GetProperty("message").GetString(),
                Is.EqualTo("80% of the run cap of key 'refunds' for run 'r1' is spent: $45.00 of $50.00, $40.00 of it LLM tokens"));
            var full = posts.Single(post => post.Threshold == 100).Json;
            Assert.That(full.GetProperty("message").GetString(),
                Is.EqualTo("100% of the run cap of key 'refunds' for run 'r1' is spent: $52.00 of $50.00, $47.00 of it LLM tokens"));
            Assert.That(full.GetProperty("spent_micro_usd").GetInt64(), Is.EqualTo(Dollars(52)));
        });
    }

    /// <summary>Posts LiteLLM logs (its own fixture with a fresh id, the run as its trace_id and the cost in dollars) and checks each was counted.</summary>
    private static async Task PostLlmAsync(HttpClient http, string runId, params (string LogId, decimal Dollars)[] logs)
    {
        var payloads = logs.Select(log =>
        {
            var payload = WithId(Jwt, log.LogId);
            payload["trace_id"] = runId;
            payload["response_cost"] = JsonValue.Create(log.Dollars);
            return payload;
        }).ToList();
        using var response = await PostAsync(http, Bodies("json_array", payloads)[0]);
        var body = await response.Content.ReadAsStringAsync();
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), body);
        Assert.That(JsonNode.Parse(body)!["accepted"]!.GetValue<int>(), Is.EqualTo(logs.Length), body);
    }
}
