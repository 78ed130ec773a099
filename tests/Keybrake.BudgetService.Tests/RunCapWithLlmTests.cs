using Keybrake.Client.TestUtilities.BudgetService;
using static Keybrake.BudgetService.Tests.Calls;

namespace Keybrake.BudgetService.Tests;

/// <summary>
/// A run cap that includes the run's LLM spend (<c>RunCapIncludes: [ "llm" ]</c>), on both store engines. The LLM
/// spend is written straight into the store's llm_spend and llm_run_total tables (<see cref="LlmSpendSeed"/>), as the
/// service's LiteLLM intake writes it, so that these tests need only the tables, not the intake's payloads.
/// </summary>
[TestFixture(StoreEngine.Sqlite)]
[TestFixture(StoreEngine.PostgreSql)]
public sealed class RunCapWithLlmTests(StoreEngine engine)
{
    private static readonly DateTimeOffset s_started = new(2026, 3, 10, 11, 0, 0, TimeSpan.Zero);

    private static Dictionary<string, string?> CombinedKey(string keyId, string runCap)
    {
        var settings = BudgetServiceHost.Key(keyId, "1000", runCap: runCap);
        settings[$"BudgetService:Keys:{keyId}:Policy:RunCapIncludes:0"] = "llm";
        return settings;
    }

    private static Task SeedAsync(TestService service, params LlmSpendRow[] rows) => LlmSpendSeed.IntoAsync(service.Host.StoragePath, service.Postgres, rows);

    private static LlmSpendRow Llm(string logId, string runId, decimal dollars, string model = "gpt-4o", string provider = "openai") =>
        new(logId, runId, Dollars(dollars), model, provider, s_started);

    [Test]
    public async Task With_40_dollars_of_LLM_spend_a_50_dollar_combined_cap_denies_a_15_dollar_call_and_says_what_went_to_tokens_and_allows_9()
    {
        await using var service = await TestService.StartAsync(engine, CombinedKey("refunds", "50"));
        await SeedAsync(service, Llm("log-1", "r1", 25, "gpt-4o"), Llm("log-2", "r1", 15, "claude-sonnet-4", "anthropic"));

        var denied = await service.Budget.AuthorizeAsync(Authorize("refunds", 15, runId: "r1"));
        var allowed = await service.Budget.AuthorizeAsync(Authorize("refunds", 9, runId: "r1"));

        // Now $40 of tokens and $9 of this key's calls: one more dollar fits, two do not.
        var second = await service.Budget.AuthorizeAsync(Authorize("refunds", 2, runId: "r1"));
        var last = await service.Budget.AuthorizeAsync(Authorize("refunds", 1, runId: "r1"));
        var run = await service.RunAsync("refunds", "r1");
        Assert.Multiple(() =>
        {
            Assert.That((denied.Allowed, denied.Reason, denied.ReservationId), Is.EqualTo((false, "run_cap_exceeded", "")));
            Assert.That(denied.Message, Is.EqualTo(
                "the run cap of $50.00 for run 'r1' on key 'refunds' would be exceeded: $40.00 of LLM tokens and $0.00 of this key's calls already count against it, and this call needs $15.00"));
            Assert.That(allowed.Allowed, Is.True, allowed.Message);
            Assert.That((second.Allowed, second.Reason), Is.EqualTo((false, "run_cap_exceeded")));
            Assert.That(second.Message, Does.Contain("$40.00 of LLM tokens and $9.00 of this key's calls").And.Contain("needs $2.00"));
            Assert.That(last.Allowed, Is.True, "exactly up to the cap: $40 + $9 + $1");
            Assert.That(run.ReservedMicroUsd, Is.EqualTo(Dollars(10)), "the denied calls reserved nothing");
        });
    }

    [Test]
    public async Task A_key_whose_run_cap_does_not_include_llm_ignores_the_runs_LLM_spend()
    {
        var settings = TestService.Settings(CombinedKey("combined", "50"), BudgetServiceHost.Key("saas-only", "1000", runCap: "50"));
        await using var service = await TestService.StartAsync(engine, settings);
        await SeedAsync(service, Llm("log-1", "r1", 45));

        var saasOnly = await service.Budget.AuthorizeAsync(Authorize("saas-only", 50, runId: "r1"));
        var combined = await service.Budget.AuthorizeAsync(Authorize("combined", 6, runId: "r1"));

        Assert.Multiple(() =>
        {
            Assert.That(saasOnly.Allowed, Is.True, saasOnly.Message);
            Assert.That((combined.Allowed, combined.Reason), Is.EqualTo((false, "run_cap_exceeded")));
            Assert.That(combined.Message, Does.Contain("$45.00 of LLM tokens"));
        });
    }

    [Test]
    public async Task Only_the_runs_own_LLM_spend_counts_and_a_call_outside_any_run_has_no_run_cap()
    {
        await using var service = await TestService.StartAsync(engine, CombinedKey("refunds", "50"));
        await SeedAsync(service, Llm("log-1", "other-run", 49), Llm("log-2", "", 500));

        var inRun = await service.Budget.AuthorizeAsync(Authorize("refunds", 50, runId: "r1"));
        var outsideRuns = await service.Budget.AuthorizeAsync(Authorize("refunds", 60));
        var otherRun = await service.Budget.AuthorizeAsync(Authorize("refunds", 2, runId: "other-run"));

        Assert.Multiple(() =>
        {
            Assert.That(inRun.Allowed, Is.True, inRun.Message);
            Assert.That(outsideRuns.Allowed, Is.True, outsideRuns.Message);
            Assert.That((otherRun.Allowed, otherRun.Reason), Is.EqualTo((false, "run_cap_exceeded")));
        });
    }

    [Test]
    public async Task LLM_spend_reported_after_a_call_was_allowed_stops_the_next_one_and_a_redelivered_log_counts_once()
    {
        await using var service = await TestService.StartAsync(engine, CombinedKey("refunds", "50"));
        var first = await service.Budget.AuthorizeAsync(Authorize("refunds", 20, runId: "r1"));
        await service.SettleAsync(Commit(first.ReservationId, 20));

        await SeedAsync(service, Llm("log-1", "r1", 25));
        await SeedAsync(service, Llm("log-1", "r1", 25)); // the same log again
        var fits = await service.Budget.AuthorizeAsync(Authorize("refunds", 5, runId: "r1"));
        var denied = await service.Budget.AuthorizeAsync(Authorize("refunds", 0.01m, runId: "r1"));

        Assert.Multiple(() =>
        {
            Assert.That(first.Allowed, Is.True);
            Assert.That(fits.Allowed, Is.True, fits.Message);
            Assert.That((denied.Allowed, denied.Reason), Is.EqualTo((false, "run_cap_exceeded")));
            Assert.That(denied.Message, Does.Contain("$25.00 of LLM tokens and $25.00 of this key's calls"));
        });
    }
}
