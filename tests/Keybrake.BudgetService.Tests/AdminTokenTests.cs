using Grpc.Core;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Protocol;
using static Keybrake.BudgetService.Tests.Calls;

namespace Keybrake.BudgetService.Tests;

public sealed class AdminTokenTests
{
    private const string Token = "admin-token-0123456789";

    private static readonly Dictionary<string, string?> s_settings =
        TestService.Settings(BudgetServiceHost.Key("agent", "100"), new Dictionary<string, string?> { ["BudgetService:AdminToken"] = Token });

    private static readonly TestCaseData[] s_wrongHeaders =
    [
        new TestCaseData(null).SetName("No authorization header"),
        new TestCaseData("Bearer not-the-admin-token-at-all").SetName("A wrong token"),
        new TestCaseData(Token).SetName("The token without the Bearer scheme"),
        new TestCaseData("Bearer " + Token + "x").SetName("The token with a character added"),
        new TestCaseData("Bearer " + Token[..^1]).SetName("The token with a character missing"),
        new TestCaseData("Basic " + Token).SetName("The token under another scheme"),
    ];

    [TestCaseSource(nameof(s_wrongHeaders))]
    public async Task Admin_calls_without_the_right_token_fail_Unauthenticated_and_change_nothing(string? authorization)
    {
        await using var service = await TestService.StartAsync(s_settings);
        var held = await service.Budget.AuthorizeAsync(Authorize("agent", 10, runId: "run-1"));
        var headers = new Metadata();
        if (authorization is not null)
        {
            headers.Add("authorization", authorization);
        }

        var failures = new[]
        {
            Assert.ThrowsAsync<RpcException>(async () => await service.AnonymousAdmin.RevokeKeyAsync(new KeyActionRequest { KeyId = "agent" }, headers)),
            Assert.ThrowsAsync<RpcException>(async () => await service.AnonymousAdmin.ResolveReservationAsync(new ResolveReservationRequest { ReservationId = held.ReservationId }, headers)),
            Assert.ThrowsAsync<RpcException>(async () => await service.AnonymousAdmin.GetDailySpendAsync(new DailySpendRequest { KeyId = "agent" }, headers)),
            Assert.ThrowsAsync<RpcException>(async () => await service.AnonymousAdmin.GetRunSpendAsync(new RunSpendRequest { KeyId = "agent", RunId = "run-1" }, headers)),
            Assert.ThrowsAsync<RpcException>(async () => await service.AnonymousAdmin.ListUnsettledAsync(new ListUnsettledRequest(), headers)),
        };

        var after = await service.Budget.AuthorizeAsync(Authorize("agent", 10));
        var unsettled = await service.Admin.ListUnsettledAsync(new ListUnsettledRequest(), Bearer());
        Assert.Multiple(() =>
        {
            Assert.That(failures.Select(f => f!.StatusCode), Is.All.EqualTo(StatusCode.Unauthenticated));
            Assert.That(failures.Select(f => f!.Status.Detail), Is.All.EqualTo("a valid admin token is required (Authorization: Bearer <token>)"));
            Assert.That(after.Allowed, Is.True, "the key was not revoked");
            Assert.That(unsettled.Reservations.Select(r => r.ReservationId), Does.Contain(held.ReservationId), "the reservation was not resolved");
        });
    }

    [Test]
    public async Task Admin_calls_with_the_bearer_token_work()
    {
        await using var service = await TestService.StartAsync(s_settings);
        var held = await service.Budget.AuthorizeAsync(Authorize("agent", 10));

        await service.Admin.ResolveReservationAsync(new ResolveReservationRequest { ReservationId = held.ReservationId, ActualMicroUsd = Dollars(4) }, Bearer());
        await service.Admin.RevokeKeyAsync(new KeyActionRequest { KeyId = "agent" }, Bearer());
        var today = await service.Admin.GetDailySpendAsync(new DailySpendRequest { KeyId = "agent" }, Bearer());
        var denied = await service.Budget.AuthorizeAsync(Authorize("agent", 1));

        Assert.Multiple(() =>
        {
            Assert.That(today.SettledMicroUsd, Is.EqualTo(Dollars(4)));
            Assert.That(denied.Reason, Is.EqualTo("key_revoked"));
        });
    }

    [Test]
    public async Task The_budget_service_itself_does_not_ask_for_the_admin_token()
    {
        await using var service = await TestService.StartAsync(s_settings);

        var reserved = await service.Budget.AuthorizeAsync(Authorize("agent", 10));
        var changed = await service.SettleAsync(Commit(reserved.ReservationId, 10));
        var status = await service.Budget.GetKeyStatusAsync(new KeyStatusRequest { KeyIds = { "agent" } });
        var audit = await AuditIntakeTests.SubmitAsync(service, AuditIntakeTests.Record("aud_1"));
        await service.Budget.PingAsync(new PingRequest());

        Assert.Multiple(() =>
        {
            Assert.That(reserved.Allowed, Is.True);
            Assert.That(changed, Is.EqualTo(1));
            Assert.That(status.Keys.Single().Known, Is.True);
            Assert.That(audit.Stored, Is.EqualTo(1));
        });
    }

    private static Metadata Bearer() => new() { { "authorization", "Bearer " + Token } };
}
