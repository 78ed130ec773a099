using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Protocol;
using static Keybrake.BudgetService.Tests.Calls;

namespace Keybrake.BudgetService.Tests;

/// <summary>Runs on both store engines.</summary>
[TestFixture(StoreEngine.Sqlite)]
[TestFixture(StoreEngine.PostgreSql)]
public sealed class IdempotencyTests(StoreEngine engine)
{
    [Test]
    public async Task A_retry_of_a_pending_call_gets_the_same_reservation_and_reserves_once()
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "100"));
        var call = Authorize("agent", 30, idempotencyKey: "call-1");

        var first = await service.Budget.AuthorizeAsync(call);
        var retry = await service.Budget.AuthorizeAsync(call);

        var today = await service.TodayAsync("agent");
        var unsettled = await service.UnsettledAsync("agent");
        Assert.Multiple(() =>
        {
            Assert.That((first.Allowed, first.Reuse), Is.EqualTo((true, ReservationReuse.None)));
            Assert.That((retry.Allowed, retry.Reuse, retry.ReservationId), Is.EqualTo((true, ReservationReuse.Pending, first.ReservationId)));
            Assert.That(retry.DayRemainingMicroUsd, Is.EqualTo(Dollars(70)), "the retry reports the same budget left as the first answer");
            Assert.That(today.ReservedMicroUsd, Is.EqualTo(Dollars(30)));
            Assert.That(unsettled.Select(r => r.ReservationId), Is.EqualTo(new[] { first.ReservationId }));
        });
    }

    [Test]
    public async Task A_retry_of_a_pending_call_is_allowed_even_when_the_cap_has_filled_since()
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "100"));
        var call = Authorize("agent", 30);
        var first = await service.Budget.AuthorizeAsync(call);
        await service.Budget.AuthorizeAsync(Authorize("agent", 70));

        var retry = await service.Budget.AuthorizeAsync(call);

        var today = await service.TodayAsync("agent");
        Assert.Multiple(() =>
        {
            Assert.That((retry.Allowed, retry.Reuse, retry.ReservationId), Is.EqualTo((true, ReservationReuse.Pending, first.ReservationId)));
            Assert.That(retry.DayRemainingMicroUsd, Is.Zero);
            Assert.That(today.ReservedMicroUsd, Is.EqualTo(Dollars(100)));
        });
    }

    [Test]
    public async Task A_retry_of_a_committed_call_is_a_replay_that_reserves_nothing()
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "100"));
        var call = Authorize("agent", 30);
        var first = await service.Budget.AuthorizeAsync(call);
        await service.SettleAsync(Commit(first.ReservationId, 25));

        var replay = await service.Budget.AuthorizeAsync(call);

        var today = await service.TodayAsync("agent");
        var unsettled = await service.UnsettledAsync("agent");
        Assert.Multiple(() =>
        {
            Assert.That((replay.Allowed, replay.Reuse), Is.EqualTo((true, ReservationReuse.Settled)));
            Assert.That(replay.ReservationId, Is.Empty, "the replay of a settled call carries no reservation (budget.proto)");
            Assert.That(replay.DayRemainingMicroUsd, Is.EqualTo(Dollars(75)));
            Assert.That((today.SettledMicroUsd, today.ReservedMicroUsd), Is.EqualTo((Dollars(25), 0L)));
            Assert.That(unsettled, Is.Empty);
        });
    }

    [Test]
    public async Task A_retry_of_a_committed_call_is_a_replay_even_when_the_cap_is_used_up()
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "100"));
        var call = Authorize("agent", 100);
        var first = await service.Budget.AuthorizeAsync(call);
        await service.SettleAsync(Commit(first.ReservationId, 100));

        var replay = await service.Budget.AuthorizeAsync(call);

        Assert.That((replay.Allowed, replay.Reuse, replay.DayRemainingMicroUsd), Is.EqualTo((true, ReservationReuse.Settled, 0L)), "the vendor replays it; no new money moves");
    }

    [Test]
    public async Task A_retry_of_a_released_call_reserves_again()
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "100"));
        var call = Authorize("agent", 30);
        var first = await service.Budget.AuthorizeAsync(call);
        await service.SettleAsync(Release(first.ReservationId));

        var again = await service.Budget.AuthorizeAsync(call);
        var retryOfAgain = await service.Budget.AuthorizeAsync(call);

        var today = await service.TodayAsync("agent");
        var unsettled = await service.UnsettledAsync("agent");
        Assert.Multiple(() =>
        {
            Assert.That((again.Allowed, again.Reuse), Is.EqualTo((true, ReservationReuse.None)));
            Assert.That(again.ReservationId, Does.StartWith("rsv_"));
            Assert.That(again.DayRemainingMicroUsd, Is.EqualTo(Dollars(70)));
            Assert.That((retryOfAgain.Reuse, retryOfAgain.ReservationId), Is.EqualTo((ReservationReuse.Pending, again.ReservationId)), "a retry of that retry reuses it");
            Assert.That(today.ReservedMicroUsd, Is.EqualTo(Dollars(30)));
            Assert.That(unsettled.Select(r => r.ReservationId), Is.EqualTo(new[] { again.ReservationId }));
        });
    }

    [Test]
    public async Task A_late_duplicate_of_the_release_does_not_release_the_call_that_reserved_again()
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "100"));
        var call = Authorize("agent", 30);
        var first = await service.Budget.AuthorizeAsync(call);
        await service.SettleAsync(Release(first.ReservationId));
        var again = await service.Budget.AuthorizeAsync(call);

        // The settle RPC retried after its first attempt had landed: settling is idempotent by reservation id.
        var duplicate = await service.SettleAsync(Release(first.ReservationId));

        var today = await service.TodayAsync("agent");
        var unsettled = await service.UnsettledAsync("agent");
        Assert.Multiple(() =>
        {
            Assert.That(again.ReservationId, Is.Not.EqualTo(first.ReservationId), "a new reservation has a new id");
            Assert.That(duplicate, Is.Zero);
            Assert.That(today.ReservedMicroUsd, Is.EqualTo(Dollars(30)), "the call in flight still counts");
            Assert.That(unsettled.Select(r => r.ReservationId), Is.EqualTo(new[] { again.ReservationId }));
        });
    }

    [Test]
    public async Task A_retry_of_a_released_call_that_no_longer_fits_is_denied()
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "100"));
        var call = Authorize("agent", 30);
        var first = await service.Budget.AuthorizeAsync(call);
        await service.SettleAsync(Release(first.ReservationId));
        await service.Budget.AuthorizeAsync(Authorize("agent", 80));

        var again = await service.Budget.AuthorizeAsync(call);

        var today = await service.TodayAsync("agent");
        Assert.Multiple(() =>
        {
            Assert.That((again.Allowed, again.Reason, again.ReservationId), Is.EqualTo((false, "daily_cap_exceeded", "")));
            Assert.That(today.ReservedMicroUsd, Is.EqualTo(Dollars(80)));
        });
    }

    [TestCase(false, TestName = "The same idempotency key for a different request is denied as malformed_request while the first is pending")]
    [TestCase(true, TestName = "The same idempotency key for a different request is denied as malformed_request after the first was committed")]
    public async Task The_same_idempotency_key_for_a_different_request_is_denied_as_malformed_request(bool settleFirst)
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "100"));
        var call = Authorize("agent", 30, idempotencyKey: "call-1", request: 1);
        var first = await service.Budget.AuthorizeAsync(call);
        if (settleFirst)
        {
            await service.SettleAsync(Commit(first.ReservationId, 30));
        }

        var before = await service.TodayAsync("agent");
        var other = await service.Budget.AuthorizeAsync(Authorize("agent", 30, idempotencyKey: "call-1", request: 2));
        var retry = await service.Budget.AuthorizeAsync(call);

        var after = await service.TodayAsync("agent");
        Assert.Multiple(() =>
        {
            Assert.That((other.Allowed, other.Reason, other.ReservationId), Is.EqualTo((false, "malformed_request", "")));
            Assert.That(other.Message, Does.Contain("Idempotency-Key 'call-1' was already used for a different request"));
            Assert.That(after, Is.EqualTo(before), "nothing was reserved");
            Assert.That((retry.Allowed, retry.Reuse), Is.EqualTo((true, settleFirst ? ReservationReuse.Settled : ReservationReuse.Pending)), "the original call is untouched");
        });
    }

    [Test]
    public async Task The_same_idempotency_key_on_two_brake_keys_is_two_calls()
    {
        await using var service = await TestService.StartAsync(engine, TestService.Settings(BudgetServiceHost.Key("a", "100"), BudgetServiceHost.Key("b", "100")));

        var a = await service.Budget.AuthorizeAsync(Authorize("a", 10, idempotencyKey: "shared"));
        var b = await service.Budget.AuthorizeAsync(Authorize("b", 20, idempotencyKey: "shared", request: 2));

        Assert.Multiple(() =>
        {
            Assert.That((a.Reuse, b.Reuse), Is.EqualTo((ReservationReuse.None, ReservationReuse.None)));
            Assert.That(b.ReservationId, Is.Not.EqualTo(a.ReservationId));
        });
    }
}
