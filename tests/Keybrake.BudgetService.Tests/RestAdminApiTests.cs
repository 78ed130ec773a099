using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Keybrake.Client.TestUtilities.BudgetService;
using static Keybrake.BudgetService.Tests.Calls;

namespace Keybrake.BudgetService.Tests;

/// <summary>The admin API as REST (JSON over HTTP/1.1), as an operator's curl would call it.</summary>
public sealed class RestAdminApiTests
{
    [Test]
    public async Task An_operator_creates_a_key_watches_its_spend_and_revokes_it_over_rest()
    {
        await using var service = await TestService.StartAsync(new Dictionary<string, string?>());
        using var http = Client(service, BudgetServiceHost.AdminToken);

        using var created = await http.PostAsync("/v1/keys", Json("""{"keyId":"refunds","vendor":"stripe","policy":{"dailyCapMicroUsd":"100000000","runCapMicroUsd":60000000,"denyEndpoints":["POST /v1/payouts/**"],"scope":{"customers":{"values":["cus_1"]}}}}"""));
        var createdBody = await created.Content.ReadFromJsonAsync<JsonElement>();
        var brakeKey = createdBody.GetProperty("brakeKey").GetString();
        var spent = await service.Budget.AuthorizeAsync(Authorize("refunds", 25, runId: "run-9"));
        await service.SettleAsync(Commit(spent.ReservationId, 25));

        var list = await http.GetFromJsonAsync<JsonElement>("/v1/keys?vendor=stripe");
        var daily = await http.GetFromJsonAsync<JsonElement>("/v1/keys/refunds/spend/daily");
        var run = await http.GetFromJsonAsync<JsonElement>("/v1/keys/refunds/spend/runs/run-9");
        var byRun = await http.GetFromJsonAsync<JsonElement>("/v1/spend?runId=run-9");
        using var updated = await http.PutAsync("/v1/keys/refunds/policy", Json("""{"dailyCapMicroUsd":"20000000"}"""));
        using var revoked = await http.PostAsync("/v1/keys/refunds/revoke", Json("{}"));
        var denied = await service.Budget.AuthorizeAsync(Authorize("refunds", 1));
        using var restored = await http.PostAsync("/v1/keys/refunds/restore", Json("{}"));
        var shown = await http.GetFromJsonAsync<JsonElement>("/v1/keys/refunds");

        Assert.Multiple(async () =>
        {
            Assert.That(created.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(brakeKey, Does.StartWith("vault_key_"));
            Assert.That(list.GetProperty("keys").EnumerateArray().Select(k => k.GetProperty("keyId").GetString()), Does.Contain("refunds"));
            Assert.That(daily.GetProperty("settledMicroUsd").ToString(), Is.EqualTo(Dollars(25).ToString(System.Globalization.CultureInfo.InvariantCulture)));
            Assert.That(daily.GetProperty("capMicroUsd").ToString(), Is.EqualTo("100000000"));
            Assert.That(run.GetProperty("capMicroUsd").ToString(), Is.EqualTo("60000000"));
            Assert.That(byRun.GetProperty("rows")[0].GetProperty("runId").GetString(), Is.EqualTo("run-9"));
            Assert.That(updated.StatusCode, Is.EqualTo(HttpStatusCode.OK), await updated.Content.ReadAsStringAsync());
            Assert.That(revoked.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(denied.Reason, Is.EqualTo("key_revoked"));
            Assert.That(restored.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(shown.GetProperty("revoked").GetBoolean(), Is.False);
            Assert.That(shown.GetProperty("policyVersion").ToString(), Is.EqualTo("2"));
            Assert.That(shown.GetProperty("policy").GetProperty("dailyCapMicroUsd").ToString(), Is.EqualTo("20000000"));
            Assert.That(shown.ToString(), Does.Not.Contain(brakeKey!), "the brake key is shown once");
        });
    }

    [Test]
    public async Task Audit_query_and_csv_download_over_rest()
    {
        await using var service = await TestService.StartAsync(BudgetServiceHost.Key("agent", "100"));
        var record = AuditIntakeTests.Record("aud_1");
        record.RunId = "run-1";
        await AuditIntakeTests.SubmitAsync(service, record, AuditIntakeTests.Record("aud_2"));
        using var http = Client(service, BudgetServiceHost.AdminToken);

        var page = await http.GetFromJsonAsync<JsonElement>("/v1/audit?runId=run-1&pageSize=10");
        using var csv = await http.GetAsync("/v1/audit/export?format=csv&run_id=run-1");
        using var jsonl = await http.GetAsync("/v1/audit/export");
        using var badFormat = await http.GetAsync("/v1/audit/export?format=xml");
        var csvText = await csv.Content.ReadAsStringAsync();

        Assert.Multiple(async () =>
        {
            Assert.That(page.GetProperty("records").EnumerateArray().Select(r => r.GetProperty("recordId").GetString()), Is.EqualTo(new[] { "aud_1" }));
            Assert.That(csv.Content.Headers.ContentType?.MediaType, Is.EqualTo("text/csv"));
            Assert.That(csvText.Split('\n', StringSplitOptions.RemoveEmptyEntries), Has.Length.EqualTo(2));
            Assert.That(csvText, Does.Contain("aud_1,"));
            Assert.That((await jsonl.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries), Has.Length.EqualTo(2));
            Assert.That(badFormat.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
            Assert.That(await badFormat.Content.ReadAsStringAsync(), Does.Contain("format must be"));
        });
    }

    private static readonly TestCaseData[] s_unauthorised =
    [
        new TestCaseData(null).SetName("REST without a token"),
        new TestCaseData("not-the-admin-token-at-all").SetName("REST with a wrong token"),
    ];

    [TestCaseSource(nameof(s_unauthorised))]
    public async Task Without_the_token_every_path_answers_401_changes_nothing_and_leaks_nothing(string? token)
    {
        await using var service = await TestService.StartAsync(BudgetServiceHost.Key("agent", "100"));
        await AuditIntakeTests.SubmitAsync(service, AuditIntakeTests.Record("aud_secret_record"));
        using var http = Client(service, token);

        var responses = new List<HttpResponseMessage>
        {
            await http.GetAsync("/v1/keys"),
            await http.GetAsync("/v1/keys/agent"),
            await http.PostAsync("/v1/keys", Json("""{"keyId":"new","vendor":"stripe","policy":{"dailyCapMicroUsd":"1"}}""")),
            await http.PutAsync("/v1/keys/agent/policy", Json("""{"dailyCapMicroUsd":"1"}""")),
            await http.PostAsync("/v1/keys/agent/revoke", Json("{}")),
            await http.GetAsync("/v1/spend"),
            await http.GetAsync("/v1/audit"),
            await http.GetAsync("/v1/audit/export?format=csv"),
            await http.GetAsync("/v1/reservations/unsettled"),
        };
        var bodies = await Task.WhenAll(responses.Select(r => r.Content.ReadAsStringAsync()));
        var allowed = await service.Budget.AuthorizeAsync(Authorize("agent", 1));
        var keys = await service.Admin.ListKeysAsync(new Protocol.ListKeysRequest());

        Assert.Multiple(() =>
        {
            Assert.That(responses.Select(r => r.StatusCode), Is.All.EqualTo(HttpStatusCode.Unauthorized));
            Assert.That(bodies, Is.All.Contains("a valid admin token is required"));
            Assert.That(bodies, Has.None.Contains("aud_secret_record"));
            Assert.That(bodies, Has.None.Contains(BudgetServiceHost.AdminToken));
            Assert.That(allowed.Allowed, Is.True, "the key was not revoked");
            Assert.That(keys.Keys.Select(k => k.KeyId), Does.Not.Contain("new"), "nothing created");
            Assert.That(keys.Keys.Single(k => k.KeyId == "agent").PolicyVersion, Is.EqualTo(1), "nothing changed");
        });

        foreach (var response in responses)
        {
            response.Dispose();
        }
    }

    [Test]
    public async Task An_unknown_policy_field_over_rest_is_refused_naming_it()
    {
        await using var service = await TestService.StartAsync(BudgetServiceHost.Key("agent", "100"));
        using var http = Client(service, BudgetServiceHost.AdminToken);

        using var response = await http.PutAsync("/v1/keys/agent/policy", Json("""{"dailyCapMicroUsd":"5","denyEndpoint":["POST /v1/payouts"]}"""));
        var body = await response.Content.ReadAsStringAsync();
        using var created = await http.PostAsync("/v1/keys", Json("""{"keyId":"new","vendor":"stripe","policy":{"dailyCapMicroUsd":"5","scopes":{}}}"""));
        var createdBody = await created.Content.ReadAsStringAsync();
        var agent = await service.Admin.GetKeyAsync(new Protocol.GetKeyRequest { KeyId = "agent" });

        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
            Assert.That(body, Does.Contain("denyEndpoint"));
            Assert.That(created.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
            Assert.That(createdBody, Does.Contain("scopes"));
            Assert.That(agent.PolicyVersion, Is.EqualTo(1), "nothing changed");
        });
    }

    private static HttpClient Client(TestService service, string? token)
    {
        var http = new HttpClient { BaseAddress = service.Host.RestAddress };
        if (token is not null)
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        return http;
    }

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");
}
