using Google.Protobuf;
using Grpc.Core;
using KeybrakeRun = Keybrake.Client.KeybrakeRun;
using Usd = Keybrake.Policies.Usd;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Protocol;
using static Keybrake.BudgetService.Tests.Calls;

namespace Keybrake.BudgetService.Tests;

/// <summary>Bad input gets a clear status naming the field, and leaves the counters and the service as they were.</summary>
public sealed class BadInputTests
{
    private static readonly TestCaseData[] s_badAuthorizations =
    [
        Case("An unknown key", r => r.KeyId = "nobody", StatusCode.NotFound, "key 'nobody' is not known"),
        Case("An empty key id", r => r.KeyId = "", StatusCode.InvalidArgument, "key_id is required"),
        Case("An over-long key id", r => r.KeyId = new string('k', 257), StatusCode.InvalidArgument, "key_id is longer than 256"),
        Case("A negative estimate", r => r.EstimateMicroUsd = -1, StatusCode.InvalidArgument, "estimate_micro_usd must be between 0 and"),
        Case("The most negative estimate", r => r.EstimateMicroUsd = long.MinValue, StatusCode.InvalidArgument, "estimate_micro_usd"),
        Case("An estimate over the largest amount", r => r.EstimateMicroUsd = Usd.MaxValue.Micros + 1, StatusCode.InvalidArgument, "estimate_micro_usd"),
        Case("The largest long as an estimate", r => r.EstimateMicroUsd = long.MaxValue, StatusCode.InvalidArgument, "estimate_micro_usd"),
        Case("No request hash", r => r.RequestHash = ByteString.Empty, StatusCode.InvalidArgument, "request_hash must be 16 bytes"),
        Case("A 15-byte request hash", r => r.RequestHash = ByteString.CopyFrom(new byte[15]), StatusCode.InvalidArgument, "request_hash must be 16 bytes"),
        Case("A 17-byte request hash", r => r.RequestHash = ByteString.CopyFrom(new byte[17]), StatusCode.InvalidArgument, "request_hash must be 16 bytes"),
        Case("An empty idempotency key", r => r.IdempotencyKey = "", StatusCode.InvalidArgument, "idempotency_key is required"),
        Case("An over-long idempotency key", r => r.IdempotencyKey = new string('i', 257), StatusCode.InvalidArgument, "idempotency_key is longer than 256"),
        Case("A run id with a space", r => r.RunId = "run 1", StatusCode.InvalidArgument, "run_id: A run id is made of visible ASCII characters"),
        Case("A run id with a non-ASCII letter", r => r.RunId = "rün-1", StatusCode.InvalidArgument, "run_id"),
        Case("An over-long run id", r => r.RunId = new string('r', KeybrakeRun.MaxRunIdLength + 1), StatusCode.InvalidArgument, "run_id: A run id has 1 to 200 characters"),
    ];

    private static readonly TestCaseData[] s_badSettlements =
    [
        new TestCaseData(new Settlement { ReservationId = "", Kind = SettlementKind.Release }, "settlements.reservation_id is required").SetName("A settlement without a reservation id"),
        new TestCaseData(new Settlement { ReservationId = new string('x', 257), Kind = SettlementKind.Release }, "settlements.reservation_id is longer than 256").SetName("An over-long reservation id"),
        new TestCaseData(new Settlement { ReservationId = "rsv_x", ActualMicroUsd = -1 }, "settlements.actual_micro_usd must be between 0 and").SetName("A negative actual cost"),
        new TestCaseData(new Settlement { ReservationId = "rsv_x", ActualMicroUsd = Usd.MaxValue.Micros + 1 }, "settlements.actual_micro_usd").SetName("An actual cost over the largest amount"),
    ];

    [TestCaseSource(nameof(s_badAuthorizations))]
    public async Task A_bad_authorization_gets_a_clear_status_and_corrupts_nothing(Action<AuthorizeRequest> spoil, StatusCode code, string message)
    {
        await using var service = await TestService.StartAsync(BudgetServiceHost.Key("agent", "100"));
        var held = await service.Budget.AuthorizeAsync(Authorize("agent", 10, runId: "run-1"));
        var request = Authorize("agent", 20, runId: "run-1");
        spoil(request);

        var bad = Assert.ThrowsAsync<RpcException>(async () => await service.Budget.AuthorizeAsync(request));

        Assert.Multiple(() =>
        {
            Assert.That(bad!.StatusCode, Is.EqualTo(code));
            Assert.That(bad.Status.Detail, Does.Contain(message));
        });
        await AssertUntouchedAsync(service, held.ReservationId);
    }

    [TestCaseSource(nameof(s_badSettlements))]
    public async Task A_settle_batch_with_a_bad_settlement_is_rejected_whole(Settlement badOne, string message)
    {
        await using var service = await TestService.StartAsync(BudgetServiceHost.Key("agent", "100"));
        var held = await service.Budget.AuthorizeAsync(Authorize("agent", 10, runId: "run-1"));

        var bad = Assert.ThrowsAsync<RpcException>(() => service.SettleAsync(Commit(held.ReservationId, 5), badOne));

        Assert.Multiple(() =>
        {
            Assert.That(bad!.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));
            Assert.That(bad.Status.Detail, Does.Contain(message));
        });
        await AssertUntouchedAsync(service, held.ReservationId);
    }

    [Test]
    public async Task A_settle_batch_over_the_batch_limit_is_rejected_whole()
    {
        await using var service = await TestService.StartAsync(BudgetServiceHost.Key("agent", "100"));
        var held = await service.Budget.AuthorizeAsync(Authorize("agent", 10, runId: "run-1"));
        var settlements = Enumerable.Range(0, 10_000).Select(i => Release($"rsv_{i}")).Prepend(Commit(held.ReservationId, 5)).ToArray();

        var bad = Assert.ThrowsAsync<RpcException>(() => service.SettleAsync(settlements));

        Assert.Multiple(() =>
        {
            Assert.That(bad!.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));
            Assert.That(bad.Status.Detail, Is.EqualTo("settlements has 10001 entries; send at most 10000 at a time"));
        });
        await AssertUntouchedAsync(service, held.ReservationId);
    }

    [Test]
    public async Task A_message_over_4_MB_is_ResourceExhausted_and_stores_nothing()
    {
        await using var service = await TestService.StartAsync(BudgetServiceHost.Key("agent", "100"));
        var held = await service.Budget.AuthorizeAsync(Authorize("agent", 10, runId: "run-1"));
        var huge = AuditIntakeTests.Record("aud_huge");
        huge.Parameters["description"] = new string('x', 5 * 1024 * 1024);

        var bad = Assert.ThrowsAsync<RpcException>(() => AuditIntakeTests.SubmitAsync(service, AuditIntakeTests.Record("aud_small"), huge));
        var retried = await AuditIntakeTests.SubmitAsync(service, AuditIntakeTests.Record("aud_small"));

        Assert.Multiple(() =>
        {
            Assert.That(bad!.StatusCode, Is.EqualTo(StatusCode.ResourceExhausted));
            Assert.That(retried.Stored, Is.EqualTo(1), "nothing of the oversized batch was stored");
        });
        await AssertUntouchedAsync(service, held.ReservationId);
    }

    [Test]
    public async Task An_authorization_over_4_MB_is_ResourceExhausted()
    {
        await using var service = await TestService.StartAsync(BudgetServiceHost.Key("agent", "100"));
        var held = await service.Budget.AuthorizeAsync(Authorize("agent", 10, runId: "run-1"));

        var bad = Assert.ThrowsAsync<RpcException>(async () => await service.Budget.AuthorizeAsync(Authorize("agent", 20, idempotencyKey: new string('i', 5 * 1024 * 1024))));

        Assert.That(bad!.StatusCode, Is.EqualTo(StatusCode.ResourceExhausted));
        await AssertUntouchedAsync(service, held.ReservationId);
    }

    [Test]
    public async Task Admin_calls_on_an_unknown_key_or_with_bad_ids_are_refused_and_change_nothing()
    {
        await using var service = await TestService.StartAsync(BudgetServiceHost.Key("agent", "100"));
        var held = await service.Budget.AuthorizeAsync(Authorize("agent", 10, runId: "run-1"));

        var revokeUnknown = Assert.ThrowsAsync<RpcException>(async () => await service.Admin.RevokeKeyAsync(new KeyActionRequest { KeyId = "nobody" }));
        var resolveEmpty = Assert.ThrowsAsync<RpcException>(async () => await service.Admin.ResolveReservationAsync(new ResolveReservationRequest()));
        var listLong = Assert.ThrowsAsync<RpcException>(async () => await service.Admin.ListUnsettledAsync(new ListUnsettledRequest { KeyId = new string('k', 257) }));
        var status = await service.Budget.GetKeyStatusAsync(new KeyStatusRequest { KeyIds = { "nobody" } });

        Assert.Multiple(() =>
        {
            Assert.That((revokeUnknown!.StatusCode, revokeUnknown.Status.Detail), Is.EqualTo((StatusCode.NotFound, "key 'nobody' is not known to the budget service")));
            Assert.That((resolveEmpty!.StatusCode, resolveEmpty.Status.Detail), Is.EqualTo((StatusCode.InvalidArgument, "reservation_id is required")));
            Assert.That((listLong!.StatusCode, listLong.Status.Detail), Is.EqualTo((StatusCode.InvalidArgument, "key_id is longer than 256 characters")));
            Assert.That((status.Keys.Single().Known, status.Keys.Single().Revoked), Is.EqualTo((false, false)));
        });
        await AssertUntouchedAsync(service, held.ReservationId);
    }

    private static TestCaseData Case(string name, Action<AuthorizeRequest> spoil, StatusCode code, string message) =>
        new TestCaseData(spoil, code, message).SetName(name);

    /// <summary>The $10 reservation made before the bad call is all there is, and a valid call still works.</summary>
    private static async Task AssertUntouchedAsync(TestService service, string heldId)
    {
        var today = await service.TodayAsync("agent");
        var run = await service.RunAsync("agent", "run-1");
        var unsettled = await service.UnsettledAsync();
        var valid = await service.Budget.AuthorizeAsync(Authorize("agent", 90, runId: "run-1"));
        Assert.Multiple(() =>
        {
            Assert.That((today.SettledMicroUsd, today.ReservedMicroUsd), Is.EqualTo((0L, Dollars(10))), "day counters");
            Assert.That((run.SettledMicroUsd, run.ReservedMicroUsd), Is.EqualTo((0L, Dollars(10))), "run counters");
            Assert.That(unsettled.Select(r => r.ReservationId), Is.EqualTo(new[] { heldId }), "pending reservations");
            Assert.That((valid.Allowed, valid.DayRemainingMicroUsd), Is.EqualTo((true, 0L)), "a valid call after the bad one");
        });
    }
}
