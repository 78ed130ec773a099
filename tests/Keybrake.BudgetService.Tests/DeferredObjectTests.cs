using Grpc.Core;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Protocol;
using Microsoft.Extensions.Time.Testing;
using static Keybrake.BudgetService.Tests.Calls;

namespace Keybrake.BudgetService.Tests;

/// <summary>
/// Deferred objects at the service: a reservation recorded against an object (a Twilio message priced later) is
/// settled by whichever client reports the object's price, once, and only within the key and the credential's scope.
/// Runs on both store engines.
/// </summary>
[TestFixture(StoreEngine.Sqlite)]
[TestFixture(StoreEngine.PostgreSql)]
public sealed class DeferredObjectTests(StoreEngine engine)
{
    private const string Sid = "SM0123456789abcdef0123456789abcdef";
    private const string Refetch = "AC0123456789abcdef0123456789abcdef https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages/SM0123456789abcdef0123456789abcdef.json";

    [Test]
    public async Task A_price_reported_by_object_settles_the_deferred_reservation_once()
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("sms", "1", vendor: "twilio"));
        var reserved = await service.Budget.AuthorizeAsync(Authorize("sms", 0.0083m));
        var recorded = await service.Budget.SettleAsync(new SettleRequest { Deferrals = { Deferral("sms", reserved.ReservationId) } });
        var listed = await service.Budget.ListDeferredAsync(new ListDeferredRequest { KeyId = "sms", Vendor = "twilio" });

        var first = await service.Budget.SettleAsync(new SettleRequest { ObjectSettlements = { Priced("sms", 0.0075m) } });
        var again = await service.Budget.SettleAsync(new SettleRequest { ObjectSettlements = { Priced("sms", 0.0075m) } });
        var otherPrice = await service.Budget.SettleAsync(new SettleRequest { ObjectSettlements = { Priced("sms", 0.5m) } });
        var afterwards = await service.Budget.ListDeferredAsync(new ListDeferredRequest { KeyId = "sms", Vendor = "twilio" });

        var today = await service.TodayAsync("sms");
        Assert.Multiple(() =>
        {
            Assert.That(recorded.DeferralsRecorded, Is.EqualTo(1));
            Assert.That(listed.Objects.Select(o => (o.ObjectId, o.ReservationId, o.EstimateMicroUsd, o.Refetch)), Is.EqualTo(new[] { (Sid, reserved.ReservationId, 8_300L, Refetch) }));
            Assert.That((first.Changed, again.Changed, otherPrice.Changed), Is.EqualTo((1, 0, 0)));
            Assert.That((today.SettledMicroUsd, today.ReservedMicroUsd), Is.EqualTo((7_500L, 0L)), "settled at the reported price, once");
            Assert.That(afterwards.Objects, Is.Empty);
        });
    }

    [Test]
    public async Task A_price_reported_by_object_that_takes_the_day_past_its_cap_is_flagged_as_an_overrun()
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("sms", "0.02", vendor: "twilio"));
        var first = await service.Budget.AuthorizeAsync(Authorize("sms", 0.0083m));
        await service.SettleAsync(Commit(first.ReservationId, 0.0083m));
        var second = await service.Budget.AuthorizeAsync(Authorize("sms", 0.0083m));
        await service.Budget.SettleAsync(new SettleRequest { Deferrals = { Deferral("sms", second.ReservationId) } });

        // Another process sees the message priced above its estimate: $0.0083 + $0.0150 is past the $0.02 cap.
        var priced = await service.Budget.SettleAsync(new SettleRequest { ObjectSettlements = { Priced("sms", 0.0150m) } });

        var today = await service.TodayAsync("sms");
        Assert.Multiple(() =>
        {
            Assert.That(priced.Changed, Is.EqualTo(1));
            Assert.That(today.SettledMicroUsd, Is.EqualTo(23_300L));
            Assert.That((today.OverCap, today.OverrunMicroUsd), Is.EqualTo((true, 3_300L)), "never silent, whichever path settled it");
        });
    }

    [Test]
    public async Task A_deferral_and_its_price_in_one_request_settle_and_a_zero_price_releases()
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("sms", "1", vendor: "twilio"));
        var reserved = await service.Budget.AuthorizeAsync(Authorize("sms", 0.0083m));

        var reply = await service.Budget.SettleAsync(new SettleRequest
        {
            Deferrals = { Deferral("sms", reserved.ReservationId) },
            ObjectSettlements = { new ObjectSettlement { KeyId = "sms", Vendor = "twilio", ObjectId = Sid, Kind = SettlementKind.Release } },
        });

        var today = await service.TodayAsync("sms");
        Assert.Multiple(() =>
        {
            Assert.That((reply.DeferralsRecorded, reply.Changed), Is.EqualTo((1, 1)));
            Assert.That((today.SettledMicroUsd, today.ReservedMicroUsd), Is.EqualTo((0L, 0L)));
        });
    }

    [Test]
    public async Task Another_keys_client_can_neither_settle_nor_list_nor_claim_the_deferred_object()
    {
        await using var service = await TestService.StartAsync(engine, TestService.Settings(
            BudgetServiceHost.Key("sms", "1", vendor: "twilio"),
            BudgetServiceHost.Key("other", "1", vendor: "twilio")));
        var reserved = await service.Budget.AuthorizeAsync(Authorize("sms", 0.0083m));
        await service.Budget.SettleAsync(new SettleRequest { Deferrals = { Deferral("sms", reserved.ReservationId) } });
        var (otherClient, _) = await service.ClientForAsync("other-agent", "other");

        // Its own key with the object's id: no such deferral. The object's key: outside its scope, untouched.
        var asOwnKey = await otherClient.SettleAsync(new SettleRequest { ObjectSettlements = { Priced("other", 0.0001m) } });
        var asTheKey = await otherClient.SettleAsync(new SettleRequest { ObjectSettlements = { Priced("sms", 0.0001m) } });

        // Mapping the object, under its own key, to the other key's reservation is not recorded either.
        var planted = await otherClient.SettleAsync(new SettleRequest { Deferrals = { Deferral("other", reserved.ReservationId) } });
        var list = Assert.ThrowsAsync<RpcException>(async () => await otherClient.ListDeferredAsync(new ListDeferredRequest { KeyId = "sms", Vendor = "twilio" }));
        var claim = Assert.ThrowsAsync<RpcException>(async () => await otherClient.ClaimDutyAsync(new ClaimDutyRequest { KeyId = "sms", Duty = "reconcile", Holder = "h", TtlMilliseconds = 1000 }));
        var ownList = await otherClient.ListDeferredAsync(new ListDeferredRequest { KeyId = "other", Vendor = "twilio" });

        var today = await service.TodayAsync("sms");
        var unsettled = await service.UnsettledAsync("sms");
        Assert.Multiple(() =>
        {
            Assert.That((asOwnKey.Changed, asTheKey.Changed, planted.DeferralsRecorded), Is.EqualTo((0, 0, 0)));
            Assert.That(list!.StatusCode, Is.EqualTo(StatusCode.PermissionDenied));
            Assert.That(claim!.StatusCode, Is.EqualTo(StatusCode.PermissionDenied));
            Assert.That(ownList.Objects, Is.Empty);
            Assert.That((today.SettledMicroUsd, today.ReservedMicroUsd), Is.EqualTo((0L, 8_300L)), "still counted at its estimate");
            Assert.That(unsettled.Select(r => r.ReservationId), Is.EqualTo(new[] { reserved.ReservationId }));
        });
    }

    [Test]
    public async Task A_deferral_of_a_reservation_already_settled_is_not_recorded_and_the_age_filter_holds()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 3, 10, 12, 0, 0, TimeSpan.Zero));
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("sms", "1", vendor: "twilio"), time);
        var settled = await service.Budget.AuthorizeAsync(Authorize("sms", 0.0083m));
        await service.SettleAsync(Commit(settled.ReservationId, 0.0083m));
        var open = await service.Budget.AuthorizeAsync(Authorize("sms", 0.0083m));

        var late = await service.Budget.SettleAsync(new SettleRequest { Deferrals = { Deferral("sms", settled.ReservationId) } });
        var recorded = await service.Budget.SettleAsync(new SettleRequest { Deferrals = { Deferral("sms", open.ReservationId, "SM1123456789abcdef0123456789abcdef") } });
        var tooYoung = await service.Budget.ListDeferredAsync(new ListDeferredRequest { KeyId = "sms", Vendor = "twilio", MinAgeMilliseconds = 60_000 });
        time.Advance(TimeSpan.FromMinutes(1));
        var oldEnough = await service.Budget.ListDeferredAsync(new ListDeferredRequest { KeyId = "sms", Vendor = "twilio", MinAgeMilliseconds = 60_000 });

        Assert.Multiple(() =>
        {
            Assert.That((late.DeferralsRecorded, recorded.DeferralsRecorded), Is.EqualTo((0, 1)));
            Assert.That(tooYoung.Objects, Is.Empty);
            Assert.That(oldEnough.Objects.Select(o => o.ReservationId), Is.EqualTo(new[] { open.ReservationId }));
        });
    }

    [Test]
    public async Task A_deferral_survives_a_restart_of_the_service_and_is_forgotten_with_its_reservation()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 3, 10, 12, 0, 0, TimeSpan.Zero));
        await using var first = await TestService.StartAsync(engine, BudgetServiceHost.Key("sms", "1", vendor: "twilio"), time);
        var reserved = await first.Budget.AuthorizeAsync(Authorize("sms", 0.0083m));
        await first.Budget.SettleAsync(new SettleRequest { Deferrals = { Deferral("sms", reserved.ReservationId) } });
        await first.StopAsync();

        await using var second = await TestService.StartAsync(engine, BudgetServiceHost.Key("sms", "1", vendor: "twilio"), time, postgres: first.Postgres, directory: first.Host.Directory);
        var settled = await second.Budget.SettleAsync(new SettleRequest { ObjectSettlements = { Priced("sms", 0.0075m) } });
        var rowsBefore = await StoreFile.CountAsync(second, "SELECT COUNT(*) FROM deferred_object");
        await second.Store.PruneFinishedAsync(time.GetUtcNow().AddDays(1), CancellationToken.None);
        var rowsAfter = await StoreFile.CountAsync(second, "SELECT COUNT(*) FROM deferred_object");

        var today = await second.TodayAsync("sms");
        Assert.Multiple(() =>
        {
            Assert.That(settled.Changed, Is.EqualTo(1));
            Assert.That((today.SettledMicroUsd, today.ReservedMicroUsd), Is.EqualTo((7_500L, 0L)));
            Assert.That((rowsBefore, rowsAfter), Is.EqualTo((1L, 0L)), "pruning the finished reservation forgets its deferral");
        });
    }

    [Test]
    public async Task A_duty_is_held_by_one_holder_until_it_expires_or_is_given_up()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 3, 10, 12, 0, 0, TimeSpan.Zero));
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("sms", "1", vendor: "twilio"), time);
        ClaimDutyRequest Claim(string holder, long ttl = 30_000) => new() { KeyId = "sms", Duty = "reconcile", Holder = holder, TtlMilliseconds = ttl };

        var a = await service.Budget.ClaimDutyAsync(Claim("a"));
        var b = await service.Budget.ClaimDutyAsync(Claim("b"));
        time.Advance(TimeSpan.FromSeconds(20));
        var aRenews = await service.Budget.ClaimDutyAsync(Claim("a"));
        time.Advance(TimeSpan.FromSeconds(20));
        var bWhileRenewed = await service.Budget.ClaimDutyAsync(Claim("b"));
        time.Advance(TimeSpan.FromSeconds(11));
        var bAfterExpiry = await service.Budget.ClaimDutyAsync(Claim("b"));
        var aTooLate = await service.Budget.ClaimDutyAsync(Claim("a"));
        var bGivesUp = await service.Budget.ClaimDutyAsync(Claim("b", ttl: 0));
        var aAtOnce = await service.Budget.ClaimDutyAsync(Claim("a"));

        Assert.Multiple(() =>
        {
            Assert.That((a.Granted, b.Granted, b.Holder), Is.EqualTo((true, false, "a")));
            Assert.That((aRenews.Granted, bWhileRenewed.Granted), Is.EqualTo((true, false)), "a renewal extends the claim");
            Assert.That((bAfterExpiry.Granted, aTooLate.Granted, aTooLate.Holder), Is.EqualTo((true, false, "b")), "an expired claim is taken over");
            Assert.That((bGivesUp.Granted, aAtOnce.Granted), Is.EqualTo((false, true)), "a duty given up is taken at once");
        });
    }

    [TestCase("", "deferrals.object_id is required")]
    [TestCase("long", "deferrals.object_id is longer than 256 characters")]
    public async Task A_deferral_with_a_bad_object_id_is_refused_and_nothing_in_its_request_applies(string objectId, string message)
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("sms", "1", vendor: "twilio"));
        var reserved = await service.Budget.AuthorizeAsync(Authorize("sms", 0.0083m));
        var request = new SettleRequest { Settlements = { Commit(reserved.ReservationId, 0.0075m) }, Deferrals = { Deferral("sms", reserved.ReservationId, objectId == "long" ? "SM" + new string('0', 255) : objectId) } };

        var bad = Assert.ThrowsAsync<RpcException>(async () => await service.Budget.SettleAsync(request));

        var today = await service.TodayAsync("sms");
        Assert.Multiple(() =>
        {
            Assert.That((bad!.StatusCode, bad.Status.Detail), Is.EqualTo((StatusCode.InvalidArgument, message)));
            Assert.That((today.SettledMicroUsd, today.ReservedMicroUsd), Is.EqualTo((0L, 8_300L)));
        });
    }

    [TestCase("", "object_settlements.object_id is required")]
    [TestCase("long", "object_settlements.object_id is longer than 256 characters")]
    public async Task A_price_by_object_with_a_bad_object_id_is_refused(string objectId, string message)
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("sms", "1", vendor: "twilio"));
        var settlement = Priced("sms", 0.0075m);
        settlement.ObjectId = objectId == "long" ? "SM" + new string('0', 255) : objectId;

        var bad = Assert.ThrowsAsync<RpcException>(async () => await service.Budget.SettleAsync(new SettleRequest { ObjectSettlements = { settlement } }));

        Assert.That((bad!.StatusCode, bad.Status.Detail), Is.EqualTo((StatusCode.InvalidArgument, message)));
    }

    [Test]
    public async Task Bad_refetch_list_and_claim_arguments_are_refused_with_the_field_named()
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("sms", "1", vendor: "twilio"));
        var reserved = await service.Budget.AuthorizeAsync(Authorize("sms", 0.0083m));
        var longRefetch = Deferral("sms", reserved.ReservationId);
        longRefetch.Refetch = new string('x', 2049);

        var refetch = Assert.ThrowsAsync<RpcException>(async () => await service.Budget.SettleAsync(new SettleRequest { Deferrals = { longRefetch } }));
        var limit = Assert.ThrowsAsync<RpcException>(async () => await service.Budget.ListDeferredAsync(new ListDeferredRequest { KeyId = "sms", Vendor = "twilio", Limit = 1001 }));
        var ttl = Assert.ThrowsAsync<RpcException>(async () => await service.Budget.ClaimDutyAsync(new ClaimDutyRequest { KeyId = "sms", Duty = "reconcile", Holder = "a", TtlMilliseconds = -1 }));
        var holder = Assert.ThrowsAsync<RpcException>(async () => await service.Budget.ClaimDutyAsync(new ClaimDutyRequest { KeyId = "sms", Duty = "reconcile", TtlMilliseconds = 1000 }));

        Assert.Multiple(() =>
        {
            Assert.That((refetch!.StatusCode, refetch.Status.Detail), Is.EqualTo((StatusCode.InvalidArgument, "deferrals.refetch is longer than 2048 characters")));
            Assert.That((limit!.StatusCode, limit.Status.Detail), Is.EqualTo((StatusCode.InvalidArgument, "limit must be between 1 and 1000 (0 for 100)")));
            Assert.That((ttl!.StatusCode, ttl.Status.Detail), Is.EqualTo((StatusCode.InvalidArgument, "ttl_milliseconds must be between 0 (give the duty up) and 86400000 (one day)")));
            Assert.That((holder!.StatusCode, holder.Status.Detail), Is.EqualTo((StatusCode.InvalidArgument, "holder is required")));
        });
    }

    private static Deferral Deferral(string keyId, string reservationId, string objectId = Sid) =>
        new() { KeyId = keyId, Vendor = "twilio", ObjectId = objectId, ReservationId = reservationId, Refetch = Refetch };

    private static ObjectSettlement Priced(string keyId, decimal dollars) =>
        new() { KeyId = keyId, Vendor = "twilio", ObjectId = Sid, Kind = SettlementKind.Commit, ActualMicroUsd = Dollars(dollars) };
}
