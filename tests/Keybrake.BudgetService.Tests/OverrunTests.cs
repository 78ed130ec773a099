using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Protocol;
using Microsoft.Extensions.Time.Testing;
using static Keybrake.BudgetService.Tests.Calls;

namespace Keybrake.BudgetService.Tests;

/// <summary>
/// Settled spend past a cap (prices above their estimates) is recorded when it settles, kept in the store, and shown
/// against the cap in force then: a cap changed later neither invents nor hides an overrun.
/// Runs on both store engines.
/// </summary>
[TestFixture(StoreEngine.Sqlite)]
[TestFixture(StoreEngine.PostgreSql)]
public sealed class OverrunTests(StoreEngine engine)
{
    [Test]
    public async Task Overruns_of_a_run_and_a_day_are_recorded_at_settle_time_and_survive_a_restart_with_a_lower_cap()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 3, 10, 12, 0, 0, TimeSpan.Zero));
        await using var first = await TestService.StartAsync(engine, TestService.Settings(BudgetServiceHost.Key("agent", "100", runCap: "60")), time);
        var a = await first.Budget.AuthorizeAsync(Authorize("agent", 30, runId: "run-1"));
        var b = await first.Budget.AuthorizeAsync(Authorize("agent", 30, runId: "run-1"));
        await first.SettleAsync(Commit(a.ReservationId, 40), Commit(b.ReservationId, 35));
        var runAfterSettle = await first.RunAsync("agent", "run-1");
        var dayAfterSettle = await first.TodayAsync("agent");

        // An operator resolves a reservation at more than it reserved: the day goes $15 past its $100 cap.
        var c = await first.Budget.AuthorizeAsync(Authorize("agent", 20, runId: "run-2"));
        await first.Admin.ResolveReservationAsync(new ResolveReservationRequest { ReservationId = c.ReservationId, ActualMicroUsd = Dollars(40) });
        var dayAfterResolve = await first.TodayAsync("agent");
        await first.StopAsync();

        await using var second = await TestService.StartAsync(engine, TestService.Settings(BudgetServiceHost.Key("agent", "10", runCap: "5")), time, postgres: first.Postgres, directory: first.Host.Directory);
        var dayAfterRestart = await second.TodayAsync("agent");
        var runAfterRestart = await second.RunAsync("agent", "run-1");
        var otherRun = await second.RunAsync("agent", "run-2");

        Assert.Multiple(() =>
        {
            Assert.That((runAfterSettle.OverCap, runAfterSettle.OverrunMicroUsd), Is.EqualTo((true, Dollars(15))), "$75 settled in a run capped at $60");
            Assert.That((dayAfterSettle.OverCap, dayAfterSettle.OverrunMicroUsd), Is.EqualTo((false, 0L)), "$75 of $100");
            Assert.That((dayAfterResolve.OverCap, dayAfterResolve.OverrunMicroUsd), Is.EqualTo((true, Dollars(15))), "$115 of $100");
            Assert.That(dayAfterRestart.OverrunMicroUsd, Is.EqualTo(Dollars(15)), "recorded against the $100 cap, not recomputed against $10");
            Assert.That(runAfterRestart.OverrunMicroUsd, Is.EqualTo(Dollars(15)));
            Assert.That(otherRun.OverCap, Is.False, "$40 in run-2 was within its $60 run cap when it settled, though over today's $5");
        });
    }
}
