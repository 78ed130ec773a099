namespace Keybrake.Client.Tests;

public sealed class LedgerHeldReservationTests
{
    [Test]
    public async Task A_reservation_never_settled_counts_as_spent_and_is_listed()
    {
        using var harness = new LedgerHarness();
        var held = await harness.AuthorizeAsync(Usd.FromDollars(60), runId: "run_held", idempotencyKey: "idem-held");

        await harness.Ledger.SettleAsync([new Settlement(held.ReservationId!, SettlementKind.Hold, Usd.Zero)], CancellationToken.None);
        var next = await harness.AuthorizeAsync(Usd.FromDollars(50));
        var unsettled = await harness.Admin.ListUnsettledAsync(LedgerHarness.KeyId);

        Assert.Multiple(() =>
        {
            Assert.That(next.Denial!.Value.Reason, Is.EqualTo(ReasonCodes.DailyCapExceeded), "the held $60 still counts");
            Assert.That(unsettled, Has.Count.EqualTo(1));
            Assert.That(unsettled[0].KeyId, Is.EqualTo(LedgerHarness.KeyId));
            Assert.That(unsettled[0].RunId, Is.EqualTo("run_held"));
            Assert.That(unsettled[0].IdempotencyKey, Is.EqualTo("idem-held"));
            Assert.That(unsettled[0].Estimate, Is.EqualTo(Usd.FromDollars(60)));
            Assert.That(unsettled[0].Day, Is.EqualTo(new DateOnly(2026, 3, 10)));
            Assert.That(unsettled[0].CreatedAt, Is.EqualTo(harness.Time.GetUtcNow()));
        });
    }

    [Test]
    public async Task Listing_unsettled_reservations_filters_by_key_and_leaves_out_settled_ones()
    {
        using var harness = new LedgerHarness();
        var settled = await harness.AuthorizeAsync(Usd.FromDollars(1));
        await harness.CommitAsync(settled.ReservationId!, Usd.FromDollars(1));
        var mine = await harness.AuthorizeAsync(Usd.FromDollars(2));
        var theirs = await harness.AuthorizeAsync(Usd.FromDollars(3), keyId: LedgerHarness.OtherKeyId);

        var all = await harness.Admin.ListUnsettledAsync();
        var onlyMine = await harness.Admin.ListUnsettledAsync(LedgerHarness.KeyId);

        Assert.Multiple(() =>
        {
            Assert.That(all.Select(r => r.ReservationId), Is.EquivalentTo(new[] { mine.ReservationId, theirs.ReservationId }));
            Assert.That(onlyMine.Select(r => r.ReservationId), Is.EqualTo(new[] { mine.ReservationId }));
        });
    }

    [Test]
    public async Task Resolving_with_an_amount_commits_it()
    {
        using var harness = new LedgerHarness();
        var held = await harness.AuthorizeAsync(Usd.FromDollars(60));

        await harness.Admin.ResolveReservationAsync(held.ReservationId!, Usd.FromDollars(45));

        var spend = await harness.TodayAsync();
        var unsettled = await harness.Admin.ListUnsettledAsync();
        Assert.Multiple(() =>
        {
            Assert.That(spend.Settled, Is.EqualTo(Usd.FromDollars(45)));
            Assert.That(spend.Reserved, Is.EqualTo(Usd.Zero));
            Assert.That(unsettled, Is.Empty);
        });
    }

    [Test]
    public async Task Resolving_without_an_amount_releases_it()
    {
        using var harness = new LedgerHarness();
        var held = await harness.AuthorizeAsync(Usd.FromDollars(60));

        await harness.Admin.ResolveReservationAsync(held.ReservationId!, actual: null);

        var spend = await harness.TodayAsync();
        Assert.That(spend.Committed, Is.EqualTo(Usd.Zero));
    }

    [Test]
    public async Task Resolving_a_reservation_that_is_not_unsettled_throws_naming_it()
    {
        using var harness = new LedgerHarness();
        var settled = await harness.AuthorizeAsync(Usd.FromDollars(1), idempotencyKey: "idem-1");
        await harness.CommitAsync(settled.ReservationId!, Usd.FromDollars(1));

        var twice = Assert.ThrowsAsync<ArgumentException>(async () => await harness.Admin.ResolveReservationAsync(settled.ReservationId!, null));
        var unknown = Assert.ThrowsAsync<ArgumentException>(async () => await harness.Admin.ResolveReservationAsync("rsv_nope", null));

        Assert.Multiple(() =>
        {
            Assert.That(twice!.Message, Does.Contain(settled.ReservationId));
            Assert.That(unknown!.Message, Does.Contain("'rsv_nope'"));
            Assert.That(unknown.ParamName, Is.EqualTo("reservationId"));
        });
    }

    [Test]
    public async Task Resolving_with_a_negative_amount_throws_and_keeps_the_reservation_held()
    {
        using var harness = new LedgerHarness();
        var held = await harness.AuthorizeAsync(Usd.FromDollars(60));

        Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await harness.Admin.ResolveReservationAsync(held.ReservationId!, Usd.FromMicros(-1)));

        Assert.That(await harness.Admin.ListUnsettledAsync(), Has.Count.EqualTo(1));
    }
}
