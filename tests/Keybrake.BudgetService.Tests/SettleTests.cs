using Keybrake.Client.TestUtilities.BudgetService;
using static Keybrake.BudgetService.Tests.Calls;

namespace Keybrake.BudgetService.Tests;

/// <summary>Runs on both store engines.</summary>
[TestFixture(StoreEngine.Sqlite)]
[TestFixture(StoreEngine.PostgreSql)]
public sealed class SettleTests(StoreEngine engine)
{
    [Test]
    public async Task Committing_less_than_the_estimate_frees_the_difference_on_the_day_and_the_run()
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "100", runCap: "50"));
        var reserved = await service.Budget.AuthorizeAsync(Authorize("agent", 40, runId: "run-1"));

        var changed = await service.SettleAsync(Commit(reserved.ReservationId, 25));
        var next = await service.Budget.AuthorizeAsync(Authorize("agent", 25, runId: "run-1")); // fits the run only because 15 came back

        var today = await service.TodayAsync("agent");
        var run = await service.RunAsync("agent", "run-1");
        Assert.Multiple(() =>
        {
            Assert.That(changed, Is.EqualTo(1));
            Assert.That((today.SettledMicroUsd, today.ReservedMicroUsd), Is.EqualTo((Dollars(25), Dollars(25))));
            Assert.That((run.SettledMicroUsd, run.ReservedMicroUsd), Is.EqualTo((Dollars(25), Dollars(25))));
            Assert.That(next.Allowed, Is.True);
            Assert.That(next.DayRemainingMicroUsd, Is.EqualTo(Dollars(50)));
        });
    }

    [Test]
    public async Task Committing_more_than_the_estimate_counts_the_actual_cost()
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "100"));
        var reserved = await service.Budget.AuthorizeAsync(Authorize("agent", 40));

        await service.SettleAsync(Commit(reserved.ReservationId, 55));
        var tooMuch = await service.Budget.AuthorizeAsync(Authorize("agent", 45.01m));
        var fits = await service.Budget.AuthorizeAsync(Authorize("agent", 45));

        var today = await service.TodayAsync("agent");
        Assert.Multiple(() =>
        {
            Assert.That((tooMuch.Allowed, tooMuch.DayRemainingMicroUsd), Is.EqualTo((false, Dollars(45))));
            Assert.That(fits.Allowed, Is.True);
            Assert.That((today.SettledMicroUsd, today.ReservedMicroUsd), Is.EqualTo((Dollars(55), Dollars(45))));
        });
    }

    [Test]
    public async Task A_commit_that_takes_the_day_past_the_cap_is_counted_in_full_and_leaves_nothing_to_spend()
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "100"));
        var first = await service.Budget.AuthorizeAsync(Authorize("agent", 10));
        var reserved = await service.Budget.AuthorizeAsync(Authorize("agent", 90));

        // Each commit is under the cap (a single commit above it would be held for an operator: BookLimitsTests).
        await service.SettleAsync(Commit(first.ReservationId, 10), Commit(reserved.ReservationId, 99));
        var denied = await service.Budget.AuthorizeAsync(Authorize("agent", 0.01m));

        var today = await service.TodayAsync("agent");
        Assert.Multiple(() =>
        {
            Assert.That(today.SettledMicroUsd, Is.EqualTo(Dollars(109)));
            Assert.That((denied.Allowed, denied.Reason, denied.DayRemainingMicroUsd), Is.EqualTo((false, "daily_cap_exceeded", 0L)));
        });
    }

    [Test]
    public async Task Settling_a_reservation_twice_changes_nothing_the_second_time()
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "100"));
        var reserved = await service.Budget.AuthorizeAsync(Authorize("agent", 40, runId: "run-1"));

        var first = await service.SettleAsync(Commit(reserved.ReservationId, 25));
        var sameAgain = await service.SettleAsync(Commit(reserved.ReservationId, 25));
        var otherAmount = await service.SettleAsync(Commit(reserved.ReservationId, 99));
        var release = await service.SettleAsync(Release(reserved.ReservationId));

        var today = await service.TodayAsync("agent");
        var run = await service.RunAsync("agent", "run-1");
        Assert.Multiple(() =>
        {
            Assert.That(new[] { first, sameAgain, otherAmount, release }, Is.EqualTo(new[] { 1, 0, 0, 0 }));
            Assert.That((today.SettledMicroUsd, today.ReservedMicroUsd), Is.EqualTo((Dollars(25), 0L)));
            Assert.That((run.SettledMicroUsd, run.ReservedMicroUsd), Is.EqualTo((Dollars(25), 0L)));
        });
    }

    [Test]
    public async Task Releasing_frees_the_whole_estimate_and_cannot_be_undone_by_a_later_commit()
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "100"));
        var reserved = await service.Budget.AuthorizeAsync(Authorize("agent", 100));
        var whileHeld = await service.Budget.AuthorizeAsync(Authorize("agent", 1));

        var released = await service.SettleAsync(Release(reserved.ReservationId));
        var lateCommit = await service.SettleAsync(Commit(reserved.ReservationId, 100));
        var afterRelease = await service.Budget.AuthorizeAsync(Authorize("agent", 100));

        Assert.Multiple(() =>
        {
            Assert.That(whileHeld.Allowed, Is.False);
            Assert.That((released, lateCommit), Is.EqualTo((1, 0)));
            Assert.That((afterRelease.Allowed, afterRelease.DayRemainingMicroUsd), Is.EqualTo((true, 0L)));
        });
    }

    [Test]
    public async Task A_batch_mixing_new_settled_unknown_and_repeated_ids_changes_only_the_new_ones()
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "100"));
        var a = await service.Budget.AuthorizeAsync(Authorize("agent", 10));
        var b = await service.Budget.AuthorizeAsync(Authorize("agent", 20));
        var c = await service.Budget.AuthorizeAsync(Authorize("agent", 30));
        await service.SettleAsync(Commit(a.ReservationId, 10));

        var changed = await service.SettleAsync(
            Commit(a.ReservationId, 99),       // already settled
            Commit(b.ReservationId, 15),       // new
            Release(c.ReservationId),          // new
            Commit("rsv_never_issued", 50),    // unknown
            Commit(b.ReservationId, 77));      // repeated in the same batch

        var today = await service.TodayAsync("agent");
        var unsettled = await service.UnsettledAsync();
        Assert.Multiple(() =>
        {
            Assert.That(changed, Is.EqualTo(2));
            Assert.That((today.SettledMicroUsd, today.ReservedMicroUsd), Is.EqualTo((Dollars(25), 0L)));
            Assert.That(unsettled, Is.Empty);
        });
    }

    [Test]
    public async Task An_empty_settle_batch_changes_nothing()
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "100"));
        await service.Budget.AuthorizeAsync(Authorize("agent", 10));

        var changed = await service.SettleAsync();

        var today = await service.TodayAsync("agent");
        Assert.That((changed, today.ReservedMicroUsd), Is.EqualTo((0, Dollars(10))));
    }
}
