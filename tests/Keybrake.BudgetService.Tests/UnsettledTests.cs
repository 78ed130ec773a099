using Grpc.Core;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Protocol;
using Microsoft.Extensions.Time.Testing;
using static Keybrake.BudgetService.Tests.Calls;

namespace Keybrake.BudgetService.Tests;

/// <summary>Runs on both store engines.</summary>
[TestFixture(StoreEngine.Sqlite)]
[TestFixture(StoreEngine.PostgreSql)]
public sealed class UnsettledTests(StoreEngine engine)
{
    private static readonly DateTimeOffset s_morning = new(2026, 3, 10, 8, 0, 0, TimeSpan.Zero);

    [Test]
    public async Task Reservations_never_settled_are_listed_oldest_first_and_by_key()
    {
        var time = new FakeTimeProvider(s_morning);
        await using var service = await TestService.StartAsync(engine, TestService.Settings(BudgetServiceHost.Key("a", "100"), BudgetServiceHost.Key("b", "100")), time);
        var first = await service.Budget.AuthorizeAsync(Authorize("a", 10, idempotencyKey: "call-1"));
        time.Advance(TimeSpan.FromMinutes(1));
        var second = await service.Budget.AuthorizeAsync(Authorize("a", 20, idempotencyKey: "call-2", runId: "run-7"));
        time.Advance(TimeSpan.FromMinutes(1));
        var otherKey = await service.Budget.AuthorizeAsync(Authorize("b", 30));
        var settled = await service.Budget.AuthorizeAsync(Authorize("a", 40));
        await service.SettleAsync(Commit(settled.ReservationId, 40));

        var forA = await service.UnsettledAsync("a");
        var all = await service.UnsettledAsync();

        Assert.Multiple(() =>
        {
            Assert.That(forA.Select(r => r.ReservationId), Is.EqualTo(new[] { first.ReservationId, second.ReservationId }));
            Assert.That(forA[1], Is.EqualTo(new UnsettledReservation
            {
                ReservationId = second.ReservationId,
                KeyId = "a",
                RunId = "run-7",
                IdempotencyKey = "call-2",
                EstimateMicroUsd = Dollars(20),
                Day = "2026-03-10",
                CreatedUnixMicros = s_morning.AddMinutes(1).ToUnixTimeMilliseconds() * 1000,
            }));
            Assert.That(forA[0].RunId, Is.Empty);
            Assert.That(all.Select(r => r.ReservationId), Is.EquivalentTo(new[] { first.ReservationId, second.ReservationId, otherKey.ReservationId }));
        });
    }

    [Test]
    public async Task A_reservation_never_settled_keeps_counting_against_the_cap_hours_later()
    {
        var time = new FakeTimeProvider(s_morning);
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "100"), time);
        var held = await service.Budget.AuthorizeAsync(Authorize("agent", 80));

        time.Advance(TimeSpan.FromHours(12)); // 20:00, the same day
        var denied = await service.Budget.AuthorizeAsync(Authorize("agent", 30));

        var today = await service.TodayAsync("agent");
        var unsettled = await service.UnsettledAsync("agent");
        Assert.Multiple(() =>
        {
            Assert.That((denied.Allowed, denied.Reason, denied.DayRemainingMicroUsd), Is.EqualTo((false, "daily_cap_exceeded", Dollars(20))));
            Assert.That(today.ReservedMicroUsd, Is.EqualTo(Dollars(80)));
            Assert.That(unsettled.Select(r => r.ReservationId), Is.EqualTo(new[] { held.ReservationId }));
        });
    }

    [Test]
    public async Task Resolving_with_an_amount_commits_it()
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "100"));
        var held = await service.Budget.AuthorizeAsync(Authorize("agent", 80, runId: "run-1"));

        await service.Admin.ResolveReservationAsync(new ResolveReservationRequest { ReservationId = held.ReservationId, ActualMicroUsd = Dollars(12) });
        var laterSettle = await service.SettleAsync(Release(held.ReservationId));

        var today = await service.TodayAsync("agent");
        var run = await service.RunAsync("agent", "run-1");
        var unsettled = await service.UnsettledAsync();
        Assert.Multiple(() =>
        {
            Assert.That((today.SettledMicroUsd, today.ReservedMicroUsd), Is.EqualTo((Dollars(12), 0L)));
            Assert.That((run.SettledMicroUsd, run.ReservedMicroUsd), Is.EqualTo((Dollars(12), 0L)));
            Assert.That(unsettled, Is.Empty);
            Assert.That(laterSettle, Is.Zero, "the guard's own settle, arriving late, changes nothing");
        });
    }

    [Test]
    public async Task Resolving_without_an_amount_releases_the_reservation()
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "100"));
        var held = await service.Budget.AuthorizeAsync(Authorize("agent", 80));

        await service.Admin.ResolveReservationAsync(new ResolveReservationRequest { ReservationId = held.ReservationId });
        var fits = await service.Budget.AuthorizeAsync(Authorize("agent", 100));

        var unsettled = await service.UnsettledAsync();
        Assert.Multiple(() =>
        {
            Assert.That(fits.Allowed, Is.True);
            Assert.That(unsettled.Select(r => r.ReservationId), Is.EqualTo(new[] { fits.ReservationId }));
        });
    }

    [Test]
    public async Task Resolving_an_unknown_or_already_settled_reservation_is_NotFound_and_changes_nothing()
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "100"));
        var held = await service.Budget.AuthorizeAsync(Authorize("agent", 80));
        await service.Admin.ResolveReservationAsync(new ResolveReservationRequest { ReservationId = held.ReservationId, ActualMicroUsd = Dollars(50) });

        var unknown = Assert.ThrowsAsync<RpcException>(async () => await service.Admin.ResolveReservationAsync(new ResolveReservationRequest { ReservationId = "rsv_never_issued" }));
        var twice = Assert.ThrowsAsync<RpcException>(async () => await service.Admin.ResolveReservationAsync(new ResolveReservationRequest { ReservationId = held.ReservationId }));

        var today = await service.TodayAsync("agent");
        Assert.Multiple(() =>
        {
            Assert.That(unknown!.StatusCode, Is.EqualTo(StatusCode.NotFound));
            Assert.That(unknown.Status.Detail, Does.Contain("'rsv_never_issued'"));
            Assert.That(twice!.StatusCode, Is.EqualTo(StatusCode.NotFound));
            Assert.That((today.SettledMicroUsd, today.ReservedMicroUsd), Is.EqualTo((Dollars(50), 0L)), "the second resolve did not release the committed cost");
        });
    }

    [Test]
    public async Task Resolving_with_a_negative_amount_is_InvalidArgument_and_leaves_the_reservation_pending()
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "100"));
        var held = await service.Budget.AuthorizeAsync(Authorize("agent", 80));

        var bad = Assert.ThrowsAsync<RpcException>(async () => await service.Admin.ResolveReservationAsync(new ResolveReservationRequest { ReservationId = held.ReservationId, ActualMicroUsd = -1 }));

        var unsettled = await service.UnsettledAsync();
        Assert.Multiple(() =>
        {
            Assert.That(bad!.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));
            Assert.That(bad.Status.Detail, Does.Contain("actual_micro_usd"));
            Assert.That(unsettled.Select(r => r.ReservationId), Is.EqualTo(new[] { held.ReservationId }));
        });
    }

    [Test]
    public async Task A_resolution_is_audited_with_the_operators_reason_and_a_release_too()
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "100"));
        var committed = await service.Budget.AuthorizeAsync(Authorize("agent", 80, runId: "run-1"));
        var released = await service.Budget.AuthorizeAsync(Authorize("agent", 5, idempotencyKey: "call-2"));

        await service.Admin.ResolveReservationAsync(new ResolveReservationRequest { ReservationId = committed.ReservationId, ActualMicroUsd = Dollars(12), Reason = "Stripe dashboard shows $12" });
        await service.Admin.ResolveReservationAsync(new ResolveReservationRequest { ReservationId = released.ReservationId });
        var tooLong = Assert.ThrowsAsync<RpcException>(async () => await service.Admin.ResolveReservationAsync(new ResolveReservationRequest { ReservationId = "rsv_x", Reason = new string('x', 501) }));

        var audit = (await service.Admin.QueryAuditAsync(new QueryAuditRequest { KeyId = "agent" })).Records;
        var first = audit.Single(r => r.ReservationId == committed.ReservationId);
        var second = audit.Single(r => r.ReservationId == released.ReservationId);
        Assert.Multiple(() =>
        {
            Assert.That((first.Decision, first.Message, first.Settlement, first.SettledMicroUsd, first.RunId, first.Vendor), Is.EqualTo(("resolve", "Stripe dashboard shows $12", "committed", Dollars(12), "run-1", "stripe")));
            Assert.That((second.Decision, second.Message, second.Settlement, second.HasSettledMicroUsd), Is.EqualTo(("resolve", string.Empty, "released", false)));
            Assert.That(tooLong!.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));
            Assert.That(tooLong.Status.Detail, Does.Contain("reason"));
        });
    }
}
