using Stripe;

namespace Keybrake.Client.Stripe.Tests;

public sealed class DayRolloverTests
{
    [Test]
    public async Task A_UTC_day_starts_a_fresh_cap_at_midnight_UTC()
    {
        await using var host = StripeGuardHost.Start(now: new DateTimeOffset(2026, 11, 28, 23, 59, 0, TimeSpan.Zero));
        var charges = new ChargeService(host.Stripe);
        await charges.CreateAsync(new ChargeCreateOptions { Amount = 9000, Currency = "usd", Source = "tok_visa" });
        var beforeMidnight = Assert.ThrowsAsync<StripeException>(() => charges.CreateAsync(new ChargeCreateOptions { Amount = 2000, Currency = "usd", Source = "tok_visa" }));

        host.Time.Advance(TimeSpan.FromMinutes(2));
        await charges.CreateAsync(new ChargeCreateOptions { Amount = 2000, Currency = "usd", Source = "tok_visa" });

        var yesterday = await host.Admin.GetDailySpendAsync(StripeGuardHost.KeyId, new DateOnly(2026, 11, 28));
        var today = await host.Admin.GetDailySpendAsync(StripeGuardHost.KeyId);
        Assert.Multiple(() =>
        {
            Assert.That(beforeMidnight!.StripeError.Code, Is.EqualTo("keybrake_daily_cap_exceeded"));
            Assert.That(yesterday.Settled, Is.EqualTo(Usd.FromDollars(90)));
            Assert.That(today.Day, Is.EqualTo(new DateOnly(2026, 11, 29)));
            Assert.That(today.Settled, Is.EqualTo(Usd.FromDollars(20)));
        });
    }

    [Test]
    public async Task A_key_in_New_York_rolls_over_at_New_York_midnight_not_UTC_midnight()
    {
        // 2026-11-29 03:59 UTC is 22:59 on the 28th in New York (UTC-5): UTC has rolled over, New York has not.
        await using var host = StripeGuardHost.Start(
            policy => policy.TimeZone = "America/New_York",
            now: new DateTimeOffset(2026, 11, 29, 3, 59, 0, TimeSpan.Zero));
        var charges = new ChargeService(host.Stripe);
        await charges.CreateAsync(new ChargeCreateOptions { Amount = 9000, Currency = "usd", Source = "tok_visa" });

        host.Time.Advance(TimeSpan.FromMinutes(60)); // 04:59 UTC, 23:59 in New York: the same day
        var sameDay = Assert.ThrowsAsync<StripeException>(() => charges.CreateAsync(new ChargeCreateOptions { Amount = 2000, Currency = "usd", Source = "tok_visa" }));
        host.Time.Advance(TimeSpan.FromMinutes(2)); // 05:01 UTC, 00:01 in New York: a new day
        await charges.CreateAsync(new ChargeCreateOptions { Amount = 2000, Currency = "usd", Source = "tok_visa" });

        var nov28 = await host.Admin.GetDailySpendAsync(StripeGuardHost.KeyId, new DateOnly(2026, 11, 28));
        var nov29 = await host.Admin.GetDailySpendAsync(StripeGuardHost.KeyId, new DateOnly(2026, 11, 29));
        Assert.Multiple(() =>
        {
            Assert.That(sameDay!.StripeError.Code, Is.EqualTo("keybrake_daily_cap_exceeded"));
            Assert.That(nov28.Settled, Is.EqualTo(Usd.FromDollars(90)));
            Assert.That(nov29.Settled, Is.EqualTo(Usd.FromDollars(20)));
        });
    }
}
