using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Protocol;
using static Keybrake.BudgetService.Tests.Calls;

namespace Keybrake.BudgetService.Tests;

/// <summary>Runs on both store engines.</summary>
[TestFixture(StoreEngine.Sqlite)]
[TestFixture(StoreEngine.PostgreSql)]
public sealed class AuthorizeTests(StoreEngine engine)
{
    [Test]
    public async Task Calls_within_the_daily_cap_are_reserved_and_each_reply_says_what_is_left()
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "100"));

        var first = await service.Budget.AuthorizeAsync(Authorize("agent", 30));
        var second = await service.Budget.AuthorizeAsync(Authorize("agent", 70)); // exactly up to the cap

        var today = await service.TodayAsync("agent");
        Assert.Multiple(() =>
        {
            Assert.That((first.Allowed, first.Reason, first.Message, first.Reuse), Is.EqualTo((true, "", "", ReservationReuse.None)));
            Assert.That(first.ReservationId, Does.StartWith("rsv_"));
            Assert.That(first.DayRemainingMicroUsd, Is.EqualTo(Dollars(70)));
            Assert.That(second.Allowed, Is.True);
            Assert.That(second.ReservationId, Is.Not.EqualTo(first.ReservationId));
            Assert.That(second.DayRemainingMicroUsd, Is.Zero);
            Assert.That((today.CapMicroUsd, today.ReservedMicroUsd, today.SettledMicroUsd), Is.EqualTo((Dollars(100), Dollars(100), 0L)));
        });
    }

    [Test]
    public async Task A_call_past_the_daily_cap_is_denied_with_daily_cap_exceeded_and_reserves_nothing()
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "100"));
        await service.Budget.AuthorizeAsync(Authorize("agent", 60));

        var denied = await service.Budget.AuthorizeAsync(Authorize("agent", 40.01m));
        var fits = await service.Budget.AuthorizeAsync(Authorize("agent", 40));

        var today = await service.TodayAsync("agent");
        Assert.Multiple(() =>
        {
            Assert.That((denied.Allowed, denied.Reason, denied.ReservationId), Is.EqualTo((false, "daily_cap_exceeded", "")));
            Assert.That(denied.Message, Does.Contain("daily cap of $100.00").And.Contain("'agent'").And.Contain("$60.00 already counts").And.Contain("needs $40.01"));
            Assert.That(denied.DayRemainingMicroUsd, Is.EqualTo(Dollars(40)));
            Assert.That(fits.Allowed, Is.True, "the denied call reserved nothing");
            Assert.That(today.ReservedMicroUsd, Is.EqualTo(Dollars(100)));
        });
    }

    [Test]
    public async Task A_call_past_the_run_cap_is_denied_with_run_cap_exceeded_while_other_runs_and_calls_outside_a_run_have_room()
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "100", runCap: "25"));
        await service.Budget.AuthorizeAsync(Authorize("agent", 20, runId: "run-1"));

        var denied = await service.Budget.AuthorizeAsync(Authorize("agent", 10, runId: "run-1"));
        var otherRun = await service.Budget.AuthorizeAsync(Authorize("agent", 10, runId: "run-2"));
        var outsideRuns = await service.Budget.AuthorizeAsync(Authorize("agent", 30));

        var run1 = await service.RunAsync("agent", "run-1");
        var today = await service.TodayAsync("agent");
        Assert.Multiple(() =>
        {
            Assert.That((denied.Allowed, denied.Reason, denied.ReservationId), Is.EqualTo((false, "run_cap_exceeded", "")));
            Assert.That(denied.Message, Does.Contain("per-run cap of $25.00").And.Contain("run 'run-1' has $20.00 counted").And.Contain("needs $10.00"));
            Assert.That(denied.DayRemainingMicroUsd, Is.EqualTo(Dollars(80)));
            Assert.That(otherRun.Allowed, Is.True);
            Assert.That(outsideRuns.Allowed, Is.True, "a call outside any run has no run cap");
            Assert.That((run1.CapMicroUsd, run1.ReservedMicroUsd), Is.EqualTo((Dollars(25), Dollars(20))));
            Assert.That(today.ReservedMicroUsd, Is.EqualTo(Dollars(60)));
        });
    }

    [Test]
    public async Task A_call_in_a_run_with_room_left_is_still_held_to_the_daily_cap()
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "100", runCap: "80"));
        await service.Budget.AuthorizeAsync(Authorize("agent", 50));

        var denied = await service.Budget.AuthorizeAsync(Authorize("agent", 60, runId: "run-1"));

        var run = await service.RunAsync("agent", "run-1");
        Assert.Multiple(() =>
        {
            Assert.That((denied.Allowed, denied.Reason), Is.EqualTo((false, "daily_cap_exceeded")));
            Assert.That(run.ReservedMicroUsd, Is.Zero);
        });
    }

    [Test]
    public async Task A_call_that_costs_nothing_is_allowed_on_a_spent_cap_and_a_zero_cap_denies_any_cost()
    {
        await using var service = await TestService.StartAsync(engine, TestService.Settings(BudgetServiceHost.Key("agent", "10"), BudgetServiceHost.Key("frozen", "0")));
        await service.Budget.AuthorizeAsync(Authorize("agent", 10));

        var free = await service.Budget.AuthorizeAsync(Authorize("agent", 0));
        var frozenFree = await service.Budget.AuthorizeAsync(Authorize("frozen", 0));
        var frozenCent = await service.Budget.AuthorizeAsync(Authorize("frozen", 0.000001m));

        Assert.Multiple(() =>
        {
            Assert.That(free.Allowed, Is.True);
            Assert.That(frozenFree.Allowed, Is.True);
            Assert.That((frozenCent.Allowed, frozenCent.Reason), Is.EqualTo((false, "daily_cap_exceeded")));
        });
    }

    [Test]
    public async Task Each_key_counts_against_its_own_cap()
    {
        await using var service = await TestService.StartAsync(engine, TestService.Settings(BudgetServiceHost.Key("a", "100"), BudgetServiceHost.Key("b", "50")));

        var a = await service.Budget.AuthorizeAsync(Authorize("a", 100));
        var b = await service.Budget.AuthorizeAsync(Authorize("b", 50));

        var spendA = await service.TodayAsync("a");
        var spendB = await service.TodayAsync("b");
        Assert.Multiple(() =>
        {
            Assert.That((a.Allowed, b.Allowed), Is.EqualTo((true, true)));
            Assert.That(b.DayRemainingMicroUsd, Is.Zero);
            Assert.That((spendA.ReservedMicroUsd, spendB.ReservedMicroUsd), Is.EqualTo((Dollars(100), Dollars(50))));
        });
    }
}
