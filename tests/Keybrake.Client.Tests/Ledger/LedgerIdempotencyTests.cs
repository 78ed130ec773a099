namespace Keybrake.Client.Tests;

public sealed class LedgerIdempotencyTests
{
    [Test]
    public async Task A_retry_of_a_pending_call_gets_the_same_reservation_and_reserves_nothing_new()
    {
        using var harness = new LedgerHarness();

        var first = await harness.AuthorizeAsync(Usd.FromDollars(30), idempotencyKey: "idem-1", hash: 7);
        var retry = await harness.AuthorizeAsync(Usd.FromDollars(30), idempotencyKey: "idem-1", hash: 7);

        var spend = await harness.TodayAsync();
        Assert.Multiple(() =>
        {
            Assert.That(first.Reuse, Is.EqualTo(ReservationReuse.None));
            Assert.That(retry.Reuse, Is.EqualTo(ReservationReuse.Pending));
            Assert.That(retry.ReservationId, Is.EqualTo(first.ReservationId));
            Assert.That(spend.Reserved, Is.EqualTo(Usd.FromDollars(30)));
        });
    }

    [Test]
    public async Task A_retry_of_a_settled_call_is_a_replay_that_reserves_nothing()
    {
        using var harness = new LedgerHarness();
        var first = await harness.AuthorizeAsync(Usd.FromDollars(30), idempotencyKey: "idem-1", hash: 7);
        await harness.CommitAsync(first.ReservationId!, Usd.FromDollars(30));

        var retry = await harness.AuthorizeAsync(Usd.FromDollars(30), idempotencyKey: "idem-1", hash: 7);

        var spend = await harness.TodayAsync();
        Assert.Multiple(() =>
        {
            Assert.That(retry.Reuse, Is.EqualTo(ReservationReuse.Settled));
            Assert.That(retry.ReservationId, Is.Null, "a settled call keeps no reservation: its replay has nothing to settle");
            Assert.That(spend.Settled, Is.EqualTo(Usd.FromDollars(30)));
            Assert.That(spend.Reserved, Is.EqualTo(Usd.Zero));
        });
    }

    [Test]
    public async Task A_retry_of_a_settled_call_is_a_replay_even_when_the_cap_is_used_up()
    {
        using var harness = new LedgerHarness();
        var first = await harness.AuthorizeAsync(Usd.FromDollars(100), idempotencyKey: "idem-1");
        await harness.CommitAsync(first.ReservationId!, Usd.FromDollars(100));

        var retry = await harness.AuthorizeAsync(Usd.FromDollars(100), idempotencyKey: "idem-1");

        Assert.That(retry.Denial, Is.Null, "the vendor replays it; no new money moves");
    }

    [Test]
    public async Task The_same_idempotency_key_for_a_different_request_is_denied_as_malformed()
    {
        using var harness = new LedgerHarness();
        await harness.AuthorizeAsync(Usd.FromDollars(30), idempotencyKey: "idem-1", hash: 7);

        var other = await harness.AuthorizeAsync(Usd.FromDollars(30), idempotencyKey: "idem-1", hash: 8);

        var spend = await harness.TodayAsync();
        Assert.Multiple(() =>
        {
            Assert.That(other.ReservationId, Is.Null);
            Assert.That(other.Denial!.Value.Reason, Is.EqualTo(ReasonCodes.MalformedRequest));
            Assert.That(other.Denial.Value.Message, Does.Contain("Idempotency-Key 'idem-1' was already used for a different request"));
            Assert.That(spend.Reserved, Is.EqualTo(Usd.FromDollars(30)));
        });
    }

    [Test]
    public async Task A_retry_after_the_vendor_refused_reserves_again_once()
    {
        using var harness = new LedgerHarness();
        var first = await harness.AuthorizeAsync(Usd.FromDollars(30), idempotencyKey: "idem-1");
        await harness.ReleaseAsync(first.ReservationId!);

        var retry = await harness.AuthorizeAsync(Usd.FromDollars(30), idempotencyKey: "idem-1");
        var again = await harness.AuthorizeAsync(Usd.FromDollars(30), idempotencyKey: "idem-1");

        var spend = await harness.TodayAsync();
        Assert.Multiple(() =>
        {
            Assert.That(retry.Reuse, Is.EqualTo(ReservationReuse.None), "the refused call moved no money: its retry reserves afresh");
            Assert.That(retry.ReservationId, Is.Not.EqualTo(first.ReservationId));
            Assert.That(again.Reuse, Is.EqualTo(ReservationReuse.Pending), "and a retry of that retry reuses it");
            Assert.That(again.ReservationId, Is.EqualTo(retry.ReservationId));
            Assert.That(spend.Reserved, Is.EqualTo(Usd.FromDollars(30)));
        });
    }

    [Test]
    public async Task The_same_idempotency_key_on_two_keys_makes_two_reservations()
    {
        using var harness = new LedgerHarness();

        var mine = await harness.AuthorizeAsync(Usd.FromDollars(10), idempotencyKey: "idem-1");
        var theirs = await harness.AuthorizeAsync(Usd.FromDollars(10), idempotencyKey: "idem-1", keyId: LedgerHarness.OtherKeyId);

        Assert.Multiple(() =>
        {
            Assert.That(theirs.Reuse, Is.EqualTo(ReservationReuse.None));
            Assert.That(theirs.ReservationId, Is.Not.EqualTo(mine.ReservationId));
        });
    }

    [Test]
    public async Task Calls_without_an_idempotency_key_each_reserve()
    {
        using var harness = new LedgerHarness();

        var first = await harness.AuthorizeAsync(Usd.FromDollars(10), hash: 7);
        var second = await harness.AuthorizeAsync(Usd.FromDollars(10), hash: 7);

        var spend = await harness.TodayAsync();
        Assert.Multiple(() =>
        {
            Assert.That(second.ReservationId, Is.Not.EqualTo(first.ReservationId));
            Assert.That(spend.Reserved, Is.EqualTo(Usd.FromDollars(20)));
        });
    }

    [Test]
    public async Task Settled_idempotency_keys_are_forgotten_after_the_retention_window()
    {
        using var harness = new LedgerHarness();
        var first = await harness.AuthorizeAsync(Usd.FromDollars(10), idempotencyKey: "idem-1", hash: 7);
        await harness.CommitAsync(first.ReservationId!, Usd.FromDollars(10));

        harness.Time.Advance(EmbeddedBudgetLedger.IdempotencyRetention + TimeSpan.FromMinutes(1));
        var later = await harness.AuthorizeAsync(Usd.FromDollars(10), idempotencyKey: "idem-1", hash: 8);

        Assert.Multiple(() =>
        {
            Assert.That(later.Denial, Is.Null, "a different request may reuse the key once the old one is forgotten");
            Assert.That(later.ReservationId, Is.Not.EqualTo(first.ReservationId));
        });
    }
}
