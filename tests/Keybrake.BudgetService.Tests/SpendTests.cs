using Grpc.Core;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Protocol;
using Microsoft.Extensions.Time.Testing;
using static Keybrake.BudgetService.Tests.Calls;

namespace Keybrake.BudgetService.Tests;

/// <summary>Runs on both store engines.</summary>
[TestFixture(StoreEngine.Sqlite)]
[TestFixture(StoreEngine.PostgreSql)]
public sealed class SpendTests(StoreEngine engine)
{
    [Test]
    public async Task Daily_spend_for_today_and_for_a_past_day_with_nothing_on_it()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 3, 10, 12, 0, 0, TimeSpan.Zero));
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "100"), time);
        var held = await service.Budget.AuthorizeAsync(Authorize("agent", 30));
        await service.Budget.AuthorizeAsync(Authorize("agent", 20));
        await service.SettleAsync(Commit(held.ReservationId, 12.5m));

        var today = await service.TodayAsync("agent");
        var quietDay = await service.DayAsync("agent", "2026-01-01");

        Assert.Multiple(() =>
        {
            Assert.That(today, Is.EqualTo(new SpendReply { KeyId = "agent", CapMicroUsd = Dollars(100), SettledMicroUsd = Dollars(12.5m), ReservedMicroUsd = Dollars(20), Day = "2026-03-10" }));
            Assert.That(quietDay, Is.EqualTo(new SpendReply { KeyId = "agent", CapMicroUsd = Dollars(100), Day = "2026-01-01" }));
        });
    }

    [Test]
    public async Task Run_spend_reports_the_run_cap_only_when_the_policy_has_one()
    {
        await using var service = await TestService.StartAsync(engine, TestService.Settings(BudgetServiceHost.Key("capped", "100", runCap: "25"), BudgetServiceHost.Key("open", "100")));
        var held = await service.Budget.AuthorizeAsync(Authorize("capped", 10, runId: "run-1"));
        await service.Budget.AuthorizeAsync(Authorize("capped", 5, runId: "run-1"));
        await service.SettleAsync(Commit(held.ReservationId, 8));
        await service.Budget.AuthorizeAsync(Authorize("open", 10, runId: "run-1"));

        var capped = await service.RunAsync("capped", "run-1");
        var open = await service.RunAsync("open", "run-1");
        var unknownRun = await service.RunAsync("capped", "run-never-seen");

        Assert.Multiple(() =>
        {
            Assert.That(capped, Is.EqualTo(new SpendReply { KeyId = "capped", RunId = "run-1", CapMicroUsd = Dollars(25), SettledMicroUsd = Dollars(8), ReservedMicroUsd = Dollars(5) }));
            Assert.That(open.HasCapMicroUsd, Is.False);
            Assert.That(open.ReservedMicroUsd, Is.EqualTo(Dollars(10)), "a run is counted even without a run cap");
            Assert.That((unknownRun.SettledMicroUsd, unknownRun.ReservedMicroUsd), Is.EqualTo((0L, 0L)));
        });
    }

    [TestCase("11/28/2026")]
    [TestCase("2026-13-01")]
    [TestCase("yesterday")]
    public async Task A_day_not_written_as_yyyy_MM_dd_is_InvalidArgument(string day)
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "100"));

        var bad = Assert.ThrowsAsync<RpcException>(async () => await service.DayAsync("agent", day));

        Assert.Multiple(() =>
        {
            Assert.That(bad!.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));
            Assert.That(bad.Status.Detail, Does.Contain("day"));
        });
    }

    [Test]
    public async Task Spend_for_an_unknown_key_or_without_a_run_id_is_refused()
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "100"));

        var day = Assert.ThrowsAsync<RpcException>(async () => await service.TodayAsync("nobody"));
        var run = Assert.ThrowsAsync<RpcException>(async () => await service.RunAsync("nobody", "run-1"));
        var noRun = Assert.ThrowsAsync<RpcException>(async () => await service.RunAsync("agent", ""));

        Assert.Multiple(() =>
        {
            Assert.That((day!.StatusCode, day.Status.Detail), Is.EqualTo((StatusCode.NotFound, "key 'nobody' is not known to the budget service")));
            Assert.That(run!.StatusCode, Is.EqualTo(StatusCode.NotFound));
            Assert.That((noRun!.StatusCode, noRun.Status.Detail), Is.EqualTo((StatusCode.InvalidArgument, "run_id is required")));
        });
    }
}
