using System.Net;
using Keybrake.Client.Central;
using Microsoft.Extensions.Time.Testing;
using static Keybrake.Client.Tests.CentralGuardHost;

namespace Keybrake.Client.Tests;

public sealed class CentralAdminTests
{
    private static readonly TimeSpan s_statusCache = TimeSpan.FromSeconds(5);

    [Test]
    public async Task A_revoked_key_s_next_money_call_is_denied_at_once_by_the_service()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var service = await CentralGuardHost.StartServiceAsync();
        await using var host = CentralGuardHost.Start(service.Address, time: clock, budgetService: o => o.KeyStatusCacheDuration = s_statusCache);
        using var before = await host.SpendAsync(100);

        await host.Admin.RevokeKeyAsync(CentralGuardHost.KeyId);
        using var after = await host.SpendAsync(100);

        Assert.Multiple(() =>
        {
            Assert.That(host.Admin, Is.InstanceOf<GrpcKeybrakeAdmin>());
            Assert.That(before.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(DecisionOf(after), Is.EqualTo(ReasonCodes.KeyRevoked), "Authorize checks revocation; the cached status does not matter");
            Assert.That(host.Vendor.Received, Has.Count.EqualTo(1));
        });
    }

    [Test]
    public async Task A_revocation_reaches_the_process_through_the_key_event_stream_without_waiting_for_the_status_cache()
    {
        // The clock stands still, so the status cache (a minute) never expires: only the pushed event can deny.
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var service = await CentralGuardHost.StartServiceAsync();
        await using var host = CentralGuardHost.Start(service.Address, time: clock, budgetService: o => o.KeyStatusCacheDuration = s_statusCache);
        using var before = await host.ReadAsync();
        await TestUtilities.Poll.UntilAsync(() => Task.FromResult(host.Ledger.IsWatchingKeys), watching => watching);

        await host.Admin.RevokeKeyAsync(CentralGuardHost.KeyId);
        var denied = await TestUtilities.Poll.UntilAsync<string?>(ReadDecisionAsync, decision => decision is not null);

        async Task<string?> ReadDecisionAsync()
        {
            using var read = await host.ReadAsync();
            return DecisionOf(read);
        }

        Assert.Multiple(() =>
        {
            Assert.That(before.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(denied, Is.EqualTo(ReasonCodes.KeyRevoked));
            Assert.That(host.Logs.Logs.Select(log => log.Message), Has.Some.Contains("Revoked applied from the budget service's key event stream"));
        });
    }

    [Test]
    public async Task A_restored_key_can_spend_again()
    {
        await using var service = await CentralGuardHost.StartServiceAsync();
        await using var host = CentralGuardHost.Start(service.Address, budgetService: o => o.KeyStatusCacheDuration = TimeSpan.Zero);
        await host.Admin.RevokeKeyAsync(CentralGuardHost.KeyId);
        using var revoked = await host.SpendAsync(100);

        await host.Admin.RestoreKeyAsync(CentralGuardHost.KeyId);
        using var restored = await host.SpendAsync(100);

        Assert.Multiple(() =>
        {
            Assert.That(DecisionOf(revoked), Is.EqualTo(ReasonCodes.KeyRevoked));
            Assert.That(restored.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        });
    }

    [Test]
    public async Task A_held_reservation_is_listed_as_unsettled_and_resolved_through_the_admin()
    {
        await using var service = await CentralGuardHost.StartServiceAsync();
        await using var host = CentralGuardHost.Start(service.Address);
        host.Vendor.RespondNext(HttpStatusCode.InternalServerError);
        using var response = await host.SpendAsync(1_000, idempotencyKey: "idem-500");

        var held = await host.TodayAsync();
        var unsettled = await host.Admin.ListUnsettledAsync(CentralGuardHost.KeyId);
        await host.Admin.ResolveReservationAsync(unsettled.Single().ReservationId, Usd.FromDollars(7));
        var resolved = await host.TodayAsync();
        var afterResolving = await host.Admin.ListUnsettledAsync(CentralGuardHost.KeyId);

        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.InternalServerError));
            Assert.That(held.Reserved, Is.EqualTo(Usd.FromDollars(10)), "an unknown outcome counts as spent");
            Assert.That(unsettled.Single().IdempotencyKey, Is.EqualTo("idem-500"));
            Assert.That(unsettled.Single().Estimate, Is.EqualTo(Usd.FromDollars(10)));
            Assert.That(unsettled.Single().KeyId, Is.EqualTo(CentralGuardHost.KeyId));
            Assert.That(resolved.Settled, Is.EqualTo(Usd.FromDollars(7)));
            Assert.That(resolved.Reserved, Is.EqualTo(Usd.Zero));
            Assert.That(afterResolving, Is.Empty);
        });
    }

    private static IEnumerable<TestCaseData> AdminCallsTheServiceRefuses()
    {
        yield return Case("Revoking a key the service does not know", admin => admin.RevokeKeyAsync("nobody"));
        yield return Case("Restoring a key the service does not know", admin => admin.RestoreKeyAsync("nobody"));
        yield return Case("The daily spend of a key the service does not know", async admin => await admin.GetDailySpendAsync("nobody"));
        yield return Case("The run spend of a key the service does not know", async admin => await admin.GetRunSpendAsync("nobody", "run-1"));
        yield return Case("The run spend of no run", async admin => await admin.GetRunSpendAsync(CentralGuardHost.KeyId, string.Empty));
        yield return Case("Resolving a reservation that does not exist", admin => admin.ResolveReservationAsync("rsv_never_made", null));

        static TestCaseData Case(string name, Func<IKeybrakeAdmin, ValueTask> call) => new TestCaseData(call).SetName(name + " is an ArgumentException");
    }

    [TestCaseSource(nameof(AdminCallsTheServiceRefuses))]
    public async Task Admin_calls_the_service_refuses_are_argument_exceptions(Func<IKeybrakeAdmin, ValueTask> call)
    {
        await using var service = await CentralGuardHost.StartServiceAsync();
        await using var host = CentralGuardHost.Start(service.Address);

        Assert.That(async () => await call(host.Admin), Throws.InstanceOf<ArgumentException>());
    }
}
