namespace Keybrake.Client.Tests;

public sealed class LedgerSettlementTests
{
    [Test]
    public async Task Settling_the_same_reservation_twice_changes_nothing()
    {
        using var harness = new LedgerHarness();
        var reservation = await harness.AuthorizeAsync(Usd.FromDollars(30), idempotencyKey: "idem-1");

        await harness.CommitAsync(reservation.ReservationId!, Usd.FromDollars(30));
        await harness.CommitAsync(reservation.ReservationId!, Usd.FromDollars(30));
        await harness.ReleaseAsync(reservation.ReservationId!);

        var spend = await harness.TodayAsync();
        Assert.Multiple(() =>
        {
            Assert.That(spend.Settled, Is.EqualTo(Usd.FromDollars(30)));
            Assert.That(spend.Reserved, Is.EqualTo(Usd.Zero));
        });
    }

    [Test]
    public async Task Settling_twice_without_an_idempotency_key_changes_nothing_either()
    {
        using var harness = new LedgerHarness();
        var reservation = await harness.AuthorizeAsync(Usd.FromDollars(30));

        await harness.CommitAsync(reservation.ReservationId!, Usd.FromDollars(30));
        await harness.CommitAsync(reservation.ReservationId!, Usd.FromDollars(30));

        var spend = await harness.TodayAsync();
        Assert.That(spend.Settled, Is.EqualTo(Usd.FromDollars(30)));
    }

    [Test]
    public async Task Releasing_a_reservation_frees_its_budget_for_the_next_call()
    {
        using var harness = new LedgerHarness();
        var first = await harness.AuthorizeAsync(Usd.FromDollars(80));
        var whileHeld = await harness.AuthorizeAsync(Usd.FromDollars(30));

        await harness.ReleaseAsync(first.ReservationId!);
        var afterRelease = await harness.AuthorizeAsync(Usd.FromDollars(30));

        var spend = await harness.TodayAsync();
        Assert.Multiple(() =>
        {
            Assert.That(whileHeld.Denial!.Value.Reason, Is.EqualTo(ReasonCodes.DailyCapExceeded));
            Assert.That(afterRelease.Denial, Is.Null);
            Assert.That(spend.Reserved, Is.EqualTo(Usd.FromDollars(30)));
            Assert.That(spend.Settled, Is.EqualTo(Usd.Zero));
        });
    }

    [Test]
    public async Task A_commit_higher_than_the_estimate_counts_the_actual_cost()
    {
        using var harness = new LedgerHarness();
        var reservation = await harness.AuthorizeAsync(Usd.FromDollars(60));

        await harness.CommitAsync(reservation.ReservationId!, Usd.FromDollars(90));
        var next = await harness.AuthorizeAsync(Usd.FromDollars(20));

        var spend = await harness.TodayAsync();
        Assert.Multiple(() =>
        {
            Assert.That(spend.Settled, Is.EqualTo(Usd.FromDollars(90)));
            Assert.That(spend.Remaining, Is.EqualTo(Usd.FromDollars(10)));
            Assert.That(next.Denial!.Value.Reason, Is.EqualTo(ReasonCodes.DailyCapExceeded), "$90 + $20 > $100");
        });
    }

    [Test]
    public async Task A_commit_lower_than_the_estimate_frees_the_difference()
    {
        using var harness = new LedgerHarness();
        var reservation = await harness.AuthorizeAsync(Usd.FromDollars(90));

        await harness.CommitAsync(reservation.ReservationId!, Usd.FromDollars(40));
        var next = await harness.AuthorizeAsync(Usd.FromDollars(60));

        var spend = await harness.TodayAsync();
        Assert.Multiple(() =>
        {
            Assert.That(next.Denial, Is.Null, "$40 + $60 fits in $100");
            Assert.That(spend.Settled, Is.EqualTo(Usd.FromDollars(40)));
            Assert.That(spend.Reserved, Is.EqualTo(Usd.FromDollars(60)));
            Assert.That(spend.Remaining, Is.EqualTo(Usd.Zero));
        });
    }

    [Test]
    public async Task A_cap_of_zero_denies_any_cost_but_allows_a_free_call()
    {
        using var harness = new LedgerHarness(policy => policy.DailyCap = Usd.Zero);

        var costly = await harness.AuthorizeAsync(Usd.FromMicros(1));
        var free = await harness.AuthorizeAsync(Usd.Zero);

        Assert.Multiple(() =>
        {
            Assert.That(costly.Denial!.Value.Reason, Is.EqualTo(ReasonCodes.DailyCapExceeded));
            Assert.That(free.Denial, Is.Null);
        });
    }

    [Test]
    public async Task A_negative_estimate_is_denied_as_malformed()
    {
        using var harness = new LedgerHarness();

        var result = await harness.AuthorizeAsync(Usd.FromMicros(-1));

        Assert.Multiple(() =>
        {
            Assert.That(result.Denial!.Value.Reason, Is.EqualTo(ReasonCodes.MalformedRequest));
            Assert.That(result.ReservationId, Is.Null);
        });
    }

    [Test]
    public async Task An_estimate_so_large_that_adding_it_would_overflow_is_denied_not_wrapped()
    {
        using var harness = new LedgerHarness();
        await harness.AuthorizeAsync(Usd.FromDollars(1));

        var absurd = await harness.AuthorizeAsync(Usd.FromMicros(long.MaxValue));
        var largest = await harness.AuthorizeAsync(Usd.MaxValue);

        Assert.Multiple(() =>
        {
            Assert.That(absurd.Denial?.Reason, Is.EqualTo(ReasonCodes.MalformedRequest), "beyond any amount Keybrake accepts");
            Assert.That(largest.Denial?.Reason, Is.EqualTo(ReasonCodes.DailyCapExceeded), "the largest accepted amount is compared without overflow");
        });
    }

    [Test]
    public async Task A_denial_message_names_the_cap_the_day_and_what_already_counts()
    {
        using var harness = new LedgerHarness();
        await harness.AuthorizeAsync(Usd.FromDollars(95));

        var denied = await harness.AuthorizeAsync(Usd.FromCents(1250));

        Assert.That(denied.Denial!.Value.Message, Is.EqualTo(
            "the daily cap of $100.00 for key 'agent' would be exceeded: $95.00 already counts against 2026-03-10 and this call needs $12.50"));
    }

    [Test]
    public async Task Settling_an_unknown_reservation_is_ignored()
    {
        using var harness = new LedgerHarness();

        await harness.CommitAsync("rsv_unknown", Usd.FromDollars(5));

        var spend = await harness.TodayAsync();
        Assert.That(spend.Committed, Is.EqualTo(Usd.Zero));
    }
}
