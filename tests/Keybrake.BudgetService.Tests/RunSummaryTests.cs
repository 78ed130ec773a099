using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Grpc.Core;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Protocol;
using static Keybrake.BudgetService.Tests.Calls;

namespace Keybrake.BudgetService.Tests;

/// <summary>
/// GetRun (gRPC and <c>GET /v1/runs/{run_id}</c>): a run's spend across keys beside its LLM spend, on both engines. The
/// LLM spend is written straight into the store's tables (<see cref="LlmSpendSeed"/>), as the LiteLLM intake writes it.
/// </summary>
[TestFixture(StoreEngine.Sqlite)]
[TestFixture(StoreEngine.PostgreSql)]
public sealed class RunSummaryTests(StoreEngine engine)
{
    private static readonly DateTimeOffset s_llmFirst = new(2026, 3, 10, 11, 58, 0, TimeSpan.Zero);

    [Test]
    public async Task A_run_shows_each_keys_spend_and_the_LLM_spend_by_model_side_by_side_over_grpc_and_rest()
    {
        var refunds = BudgetServiceHost.Key("refunds", "1000", runCap: "50");
        refunds["BudgetService:Keys:refunds:Policy:RunCapIncludes:0"] = "llm";
        await using var service = await TestService.StartAsync(engine, TestService.Settings(refunds, BudgetServiceHost.Key("sms", "100", vendor: "twilio")));
        var settled = await service.Budget.AuthorizeAsync(Authorize("refunds", 9, runId: "r1"));
        await service.SettleAsync(Commit(settled.ReservationId, 8));
        await service.Budget.AuthorizeAsync(Authorize("sms", 0.5m, runId: "r1"));
        await service.Budget.AuthorizeAsync(Authorize("sms", 7, runId: "other"));
        await LlmSpendSeed.IntoAsync(service.Host.StoragePath, service.Postgres,
            new LlmSpendRow("log-1", "r1", Dollars(25), "gpt-4o", "openai", s_llmFirst) { PromptTokens = 1200, CompletionTokens = 300 },
            new LlmSpendRow("log-2", "r1", Dollars(10), "claude-sonnet-4", "anthropic", s_llmFirst.AddMinutes(1)),
            new LlmSpendRow("log-3", "r1", Dollars(5), "gpt-4o", "openai", s_llmFirst.AddMinutes(3)),
            new LlmSpendRow("log-4", "other", Dollars(99), "gpt-4o", "openai", s_llmFirst));

        var run = await service.Admin.GetRunAsync(new GetRunRequest { RunId = "r1" });
        using var http = new HttpClient { BaseAddress = service.Host.RestAddress };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", BudgetServiceHost.AdminToken);
        var rest = await http.GetFromJsonAsync<JsonElement>("/v1/runs/r1");

        Assert.Multiple(() =>
        {
            Assert.That(run.Keys.Select(k => (k.KeyId, k.Vendor, k.SettledMicroUsd, k.ReservedMicroUsd, k.HasRunCapMicroUsd, k.CapIncludesLlm)), Is.EqualTo(new[]
            {
                ("refunds", "stripe", Dollars(8), 0L, true, true),
                ("sms", "twilio", 0L, Dollars(0.5m), false, false),
            }));
            Assert.That(run.Keys[0].RunCapMicroUsd, Is.EqualTo(Dollars(50)));
            Assert.That((run.SaasSettledMicroUsd, run.SaasReservedMicroUsd), Is.EqualTo((Dollars(8), Dollars(0.5m))));
            Assert.That((run.LlmMicroUsd, run.LlmCalls), Is.EqualTo((Dollars(40), 3)));
            Assert.That(run.LlmModels.Select(m => (m.Model, m.Provider, m.CostMicroUsd, m.Calls)), Is.EqualTo(new[]
            {
                ("gpt-4o", "openai", Dollars(30), 2),
                ("claude-sonnet-4", "anthropic", Dollars(10), 1),
            }));
            Assert.That(run.TotalMicroUsd, Is.EqualTo(Dollars(48.5m)));
            Assert.That(run.FirstSeen, Is.EqualTo("2026-03-10T11:58:00.0000000Z"), "the first LLM log came before the first call's audit (none was sent)");
            Assert.That(run.LastSeen, Is.EqualTo("2026-03-10T12:01:00.0000000Z"));
            Assert.That(rest.GetProperty("llmMicroUsd").ToString(), Is.EqualTo(Dollars(40).ToString(System.Globalization.CultureInfo.InvariantCulture)));
            Assert.That(rest.GetProperty("llmModels")[0].GetProperty("model").GetString(), Is.EqualTo("gpt-4o"));
            Assert.That(rest.GetProperty("keys").GetArrayLength(), Is.EqualTo(2));
        });
    }

    [Test]
    public async Task An_unknown_run_is_an_empty_summary_and_a_bad_run_id_or_no_admin_token_is_refused()
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("refunds", "100"));

        var unknown = await service.Admin.GetRunAsync(new GetRunRequest { RunId = "never" });
        var empty = Assert.ThrowsAsync<RpcException>(async () => await service.Admin.GetRunAsync(new GetRunRequest()));
        var anonymous = Assert.ThrowsAsync<RpcException>(async () => await service.AnonymousAdmin.GetRunAsync(new GetRunRequest { RunId = "never" }));
        using var http = new HttpClient { BaseAddress = service.Host.RestAddress };
        using var restAnonymous = await http.GetAsync("/v1/runs/never");

        Assert.Multiple(() =>
        {
            Assert.That((unknown.RunId, unknown.Keys.Count, unknown.LlmMicroUsd, unknown.TotalMicroUsd, unknown.FirstSeen), Is.EqualTo(("never", 0, 0L, 0L, "")));
            Assert.That(empty!.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));
            Assert.That(empty.Status.Detail, Does.Contain("run_id is required"));
            Assert.That(anonymous!.StatusCode, Is.EqualTo(StatusCode.Unauthenticated));
            Assert.That(restAnonymous.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        });
    }
}
