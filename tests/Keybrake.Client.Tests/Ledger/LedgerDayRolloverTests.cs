namespace Keybrake.Client.Tests;

public sealed class LedgerDayRolloverTests
{
    [Test]
    public async Task A_UTC_key_starts_a_fresh_cap_at_midnight_UTC()
    {
        using var harness = new LedgerHarness(now: new DateTimeOffset(2026, 3, 10, 23, 59, 0, TimeSpan.Zero));
        var spent = await harness.AuthorizeAsync(Usd.FromDollars(90));
        await harness.CommitAsync(spent.ReservationId!, Usd.FromDollars(90));
        var beforeMidnight = await harness.AuthorizeAsync(Usd.FromDollars(20));

        harness.Time.Advance(TimeSpan.FromMinutes(2));
        var afterMidnight = await harness.AuthorizeAsync(Usd.FromDollars(20));

        var yesterday = await harness.Admin.GetDailySpendAsync(LedgerHarness.KeyId, new DateOnly(2026, 3, 10));
        var today = await harness.TodayAsync();
        Assert.Multiple(() =>
        {
            Assert.That(beforeMidnight.Denial!.Value.Reason, Is.EqualTo(ReasonCodes.DailyCapExceeded));
            Assert.That(afterMidnight.Denial, Is.Null);
            Assert.That(yesterday.Settled, Is.EqualTo(Usd.FromDollars(90)));
            Assert.That(today.Day, Is.EqualTo(new DateOnly(2026, 3, 11)));
            Assert.That(today.Reserved, Is.EqualTo(Usd.FromDollars(20)));
        });
    }

    [Test]
    public async Task A_Tokyo_key_rolls_over_at_Tokyo_midnight_which_is_15_00_UTC()
    {
        // 14:59 UTC on 10 March is 23:59 in Tokyo (UTC+9, no daylight saving time).
        using var harness = new LedgerHarness(policy => policy.TimeZone = "Asia/Tokyo", now: new DateTimeOffset(2026, 3, 10, 14, 59, 0, TimeSpan.Zero));
        await harness.AuthorizeAsync(Usd.FromDollars(90));
        var sameTokyoDay = await harness.AuthorizeAsync(Usd.FromDollars(20));

        harness.Time.Advance(TimeSpan.FromMinutes(2)); // 15:01 UTC, still 10 March in UTC, 00:01 on 11 March in Tokyo
        var nextTokyoDay = await harness.AuthorizeAsync(Usd.FromDollars(20));

        var march10 = await harness.Admin.GetDailySpendAsync(LedgerHarness.KeyId, new DateOnly(2026, 3, 10));
        var today = await harness.TodayAsync();
        Assert.Multiple(() =>
        {
            Assert.That(sameTokyoDay.Denial!.Value.Reason, Is.EqualTo(ReasonCodes.DailyCapExceeded));
            Assert.That(nextTokyoDay.Denial, Is.Null);
            Assert.That(march10.Reserved, Is.EqualTo(Usd.FromDollars(90)));
            Assert.That(today.Day, Is.EqualTo(new DateOnly(2026, 3, 11)));
            Assert.That(today.Reserved, Is.EqualTo(Usd.FromDollars(20)));
        });
    }

    [Test]
    public async Task A_Tokyo_key_does_not_roll_over_at_midnight_UTC()
    {
        // 23:59 UTC on 10 March is 08:59 on 11 March in Tokyo; two minutes later it is still 11 March there.
        using var harness = new LedgerHarness(policy => policy.TimeZone = "Asia/Tokyo", now: new DateTimeOffset(2026, 3, 10, 23, 59, 0, TimeSpan.Zero));
        await harness.AuthorizeAsync(Usd.FromDollars(90));

        harness.Time.Advance(TimeSpan.FromMinutes(2));
        var afterUtcMidnight = await harness.AuthorizeAsync(Usd.FromDollars(20));

        var today = await harness.TodayAsync();
        Assert.Multiple(() =>
        {
            Assert.That(afterUtcMidnight.Denial!.Value.Reason, Is.EqualTo(ReasonCodes.DailyCapExceeded));
            Assert.That(today.Day, Is.EqualTo(new DateOnly(2026, 3, 11)));
        });
    }

    [Test]
    public async Task A_reservation_settled_after_midnight_counts_against_the_day_it_was_made()
    {
        using var harness = new LedgerHarness(now: new DateTimeOffset(2026, 3, 10, 23, 59, 0, TimeSpan.Zero));
        var reservation = await harness.AuthorizeAsync(Usd.FromDollars(40));

        harness.Time.Advance(TimeSpan.FromMinutes(2));
        await harness.CommitAsync(reservation.ReservationId!, Usd.FromDollars(40));

        var march10 = await harness.Admin.GetDailySpendAsync(LedgerHarness.KeyId, new DateOnly(2026, 3, 10));
        var march11 = await harness.TodayAsync();
        Assert.Multiple(() =>
        {
            Assert.That(march10.Settled, Is.EqualTo(Usd.FromDollars(40)));
            Assert.That(march10.Reserved, Is.EqualTo(Usd.Zero));
            Assert.That(march11.Committed, Is.EqualTo(Usd.Zero));
        });
    }
}
