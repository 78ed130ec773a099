using Keybrake.Client.TestUtilities.BudgetService;
using Microsoft.Extensions.Time.Testing;
using static Keybrake.BudgetService.Tests.Calls;

namespace Keybrake.BudgetService.Tests;

/// <summary>Runs on both store engines.</summary>
[TestFixture(StoreEngine.Sqlite)]
[TestFixture(StoreEngine.PostgreSql)]
public sealed class DayRolloverTests(StoreEngine engine)
{
    [Test]
    public async Task A_UTC_key_starts_a_fresh_day_at_midnight_UTC()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 28, 23, 59, 0, TimeSpan.Zero));
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "100"), time);
        var before = await service.Budget.AuthorizeAsync(Authorize("agent", 90));
        await service.SettleAsync(Commit(before.ReservationId, 90));
        var beforeMidnight = await service.Budget.AuthorizeAsync(Authorize("agent", 20));

        time.Advance(TimeSpan.FromMinutes(2));
        var afterMidnight = await service.Budget.AuthorizeAsync(Authorize("agent", 20));

        var yesterday = await service.DayAsync("agent", "2026-11-28");
        var today = await service.TodayAsync("agent");
        Assert.Multiple(() =>
        {
            Assert.That((beforeMidnight.Allowed, beforeMidnight.Reason), Is.EqualTo((false, "daily_cap_exceeded")));
            Assert.That((afterMidnight.Allowed, afterMidnight.DayRemainingMicroUsd), Is.EqualTo((true, Dollars(80))));
            Assert.That((yesterday.Day, yesterday.SettledMicroUsd, yesterday.ReservedMicroUsd), Is.EqualTo(("2026-11-28", Dollars(90), 0L)));
            Assert.That((today.Day, today.SettledMicroUsd, today.ReservedMicroUsd), Is.EqualTo(("2026-11-29", 0L, Dollars(20))));
        });
    }

    [Test]
    public async Task A_New_York_key_rolls_over_at_New_York_midnight_not_UTC_midnight()
    {
        // 2026-11-29 03:59 UTC is 22:59 on the 28th in New York (UTC-5): UTC has rolled over, New York has not.
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 29, 3, 59, 0, TimeSpan.Zero));
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "100", timeZone: "America/New_York"), time);
        await service.Budget.AuthorizeAsync(Authorize("agent", 90));

        time.Advance(TimeSpan.FromMinutes(60)); // 04:59 UTC, 23:59 in New York: the same day
        var sameDay = await service.Budget.AuthorizeAsync(Authorize("agent", 20));
        var todayBefore = await service.TodayAsync("agent");
        time.Advance(TimeSpan.FromMinutes(2)); // 05:01 UTC, 00:01 in New York: a new day
        var newDay = await service.Budget.AuthorizeAsync(Authorize("agent", 20));

        var nov28 = await service.DayAsync("agent", "2026-11-28");
        var nov29 = await service.DayAsync("agent", "2026-11-29");
        var todayAfter = await service.TodayAsync("agent");
        Assert.Multiple(() =>
        {
            Assert.That((sameDay.Allowed, sameDay.Reason), Is.EqualTo((false, "daily_cap_exceeded")));
            Assert.That(todayBefore.Day, Is.EqualTo("2026-11-28"));
            Assert.That(newDay.Allowed, Is.True);
            Assert.That(nov28.ReservedMicroUsd, Is.EqualTo(Dollars(90)));
            Assert.That(nov29.ReservedMicroUsd, Is.EqualTo(Dollars(20)));
            Assert.That(todayAfter.Day, Is.EqualTo("2026-11-29"));
        });
    }

    [Test]
    public async Task A_reservation_settled_after_midnight_settles_against_the_day_it_was_made_on()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 28, 23, 59, 0, TimeSpan.Zero));
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "100"), time);
        var held = await service.Budget.AuthorizeAsync(Authorize("agent", 60));

        time.Advance(TimeSpan.FromMinutes(2));
        await service.SettleAsync(Commit(held.ReservationId, 50));

        var yesterday = await service.DayAsync("agent", "2026-11-28");
        var today = await service.TodayAsync("agent");
        Assert.Multiple(() =>
        {
            Assert.That((yesterday.SettledMicroUsd, yesterday.ReservedMicroUsd), Is.EqualTo((Dollars(50), 0L)));
            Assert.That((today.SettledMicroUsd, today.ReservedMicroUsd), Is.EqualTo((0L, 0L)));
        });
    }

    [Test]
    public async Task A_pending_reservation_from_yesterday_is_listed_with_its_own_day()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 29, 4, 30, 0, TimeSpan.Zero)); // 23:30 on the 28th in New York
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "100", timeZone: "America/New_York"), time);
        await service.Budget.AuthorizeAsync(Authorize("agent", 60));

        time.Advance(TimeSpan.FromHours(1));
        var unsettled = await service.UnsettledAsync("agent");

        Assert.That(unsettled.Single().Day, Is.EqualTo("2026-11-28"));
    }
}
