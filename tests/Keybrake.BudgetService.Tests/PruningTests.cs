using System.Diagnostics;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Protocol;
using Microsoft.Extensions.Time.Testing;
using static Keybrake.BudgetService.Tests.Calls;

namespace Keybrake.BudgetService.Tests;

/// <summary>Runs on both store engines.</summary>
[TestFixture(StoreEngine.Sqlite)]
[TestFixture(StoreEngine.PostgreSql)]
public sealed class PruningTests(StoreEngine engine)
{
    private static readonly DateTimeOffset s_start = new(2026, 3, 10, 6, 0, 0, TimeSpan.Zero);

    [Test]
    public async Task Finished_reservations_older_than_the_cutoff_are_forgotten_and_pending_ones_never_are()
    {
        var time = new FakeTimeProvider(s_start);
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "100"), time);
        var committed = await service.Budget.AuthorizeAsync(Authorize("agent", 10));
        var released = await service.Budget.AuthorizeAsync(Authorize("agent", 20));
        var pending = await service.Budget.AuthorizeAsync(Authorize("agent", 30));
        await service.SettleAsync(Commit(committed.ReservationId, 10), Release(released.ReservationId));
        time.Advance(TimeSpan.FromHours(2));
        var recentCall = Authorize("agent", 5);
        var recent = await service.Budget.AuthorizeAsync(recentCall);
        await service.SettleAsync(Commit(recent.ReservationId, 5));

        var pruned = await service.Store.PruneFinishedAsync(s_start.AddHours(1), CancellationToken.None);
        var recentRetry = await service.Budget.AuthorizeAsync(recentCall);
        var prunedEverythingFinished = await service.Store.PruneFinishedAsync(s_start.AddDays(100), CancellationToken.None);

        var today = await service.TodayAsync("agent");
        var unsettled = await service.UnsettledAsync();
        var rows = await StoreFile.CountAsync(service, "SELECT COUNT(*) FROM reservation");
        Assert.Multiple(() =>
        {
            Assert.That(pruned, Is.EqualTo(2), "the committed and the released one, finished before the cutoff");
            Assert.That(recentRetry.Reuse, Is.EqualTo(ReservationReuse.Settled), "finished after the cutoff: still remembered");
            Assert.That(prunedEverythingFinished, Is.EqualTo(1));
            Assert.That(unsettled.Select(r => r.ReservationId), Is.EqualTo(new[] { pending.ReservationId }));
            Assert.That(rows, Is.EqualTo(1));
            Assert.That((today.SettledMicroUsd, today.ReservedMicroUsd), Is.EqualTo((Dollars(15), Dollars(30))), "pruning never moves counters");
        });
    }

    [Test]
    public async Task After_pruning_a_retry_of_a_settled_call_reserves_again()
    {
        var time = new FakeTimeProvider(s_start);
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "100"), time);
        var call = Authorize("agent", 10);
        var first = await service.Budget.AuthorizeAsync(call);
        await service.SettleAsync(Commit(first.ReservationId, 10));
        time.Advance(TimeSpan.FromMinutes(5));

        await service.Store.PruneFinishedAsync(time.GetUtcNow(), CancellationToken.None);
        var retry = await service.Budget.AuthorizeAsync(call);

        var today = await service.TodayAsync("agent");
        Assert.Multiple(() =>
        {
            Assert.That((retry.Allowed, retry.Reuse), Is.EqualTo((true, ReservationReuse.None)));
            Assert.That(retry.ReservationId, Is.Not.EqualTo(first.ReservationId));
            Assert.That((today.SettledMicroUsd, today.ReservedMicroUsd), Is.EqualTo((Dollars(10), Dollars(10))));
        });
    }

    [Test]
    public async Task The_service_prunes_by_itself_once_the_configured_retention_has_passed()
    {
        var time = new FakeTimeProvider(s_start);
        var settings = TestService.Settings(BudgetServiceHost.Key("agent", "100"), new Dictionary<string, string?> { ["BudgetService:IdempotencyRetention"] = "02:00:00" });
        await using var service = await TestService.StartAsync(engine, settings, time);
        var finished = await service.Budget.AuthorizeAsync(Authorize("agent", 10));
        var pending = await service.Budget.AuthorizeAsync(Authorize("agent", 20));
        await service.SettleAsync(Commit(finished.ReservationId, 10));

        time.Advance(TimeSpan.FromHours(3)); // the hourly maintenance runs with a cutoff an hour after the commit

        var forgotten = await EventuallyAsync(async () =>
            await StoreFile.CountAsync(service, "SELECT COUNT(*) FROM reservation WHERE reservation_id = $id", ("$id", finished.ReservationId)) == 0);
        var unsettled = await service.UnsettledAsync();
        Assert.Multiple(() =>
        {
            Assert.That(forgotten, Is.True);
            Assert.That(unsettled.Select(r => r.ReservationId), Is.EqualTo(new[] { pending.ReservationId }));
        });
    }

    [Test]
    public async Task The_service_forgets_audit_past_its_retention_and_credentials_revoked_past_theirs_by_itself()
    {
        var time = new FakeTimeProvider(s_start);
        var settings = TestService.Settings(
            BudgetServiceHost.Key("agent", "100"),
            new Dictionary<string, string?> { ["BudgetService:AuditRetention"] = "2.00:00:00", ["BudgetService:RevokedClientRetention"] = "1.00:00:00" });
        await using var service = await TestService.StartAsync(engine, settings, time);
        var (_, token) = await service.ClientForAsync("retired", "agent");
        await service.Admin.RevokeClientAsync(new ClientActionRequest { ClientId = "retired" });
        await service.ClientForAsync("kept", "agent");
        var call = AuditIntakeTests.Record("old-call");
        call.TimestampUnixMicros = s_start.AddHours(-1).ToUnixTimeMilliseconds() * 1000;
        await AuditIntakeTests.SubmitAsync(service, call);

        time.Advance(TimeSpan.FromDays(2)); // the next hourly round: the call is 2 days and 1 hour old, the revocation 2 days
        var forgotten = await EventuallyAsync(async () =>
            (await service.Admin.ListClientsAsync(new ListClientsRequest())).Clients.All(client => client.ClientId != "retired")
            && (await service.Admin.QueryAuditAsync(new QueryAuditRequest())).Records.Count == 0);
        var refused = Assert.ThrowsAsync<Grpc.Core.RpcException>(async () => await BudgetServiceHost.BudgetClient(service.Channel, token).AuthorizeAsync(Authorize("agent", 1)));
        var clients = await service.Admin.ListClientsAsync(new ListClientsRequest());

        Assert.Multiple(() =>
        {
            Assert.That(forgotten, Is.True);
            Assert.That(refused!.StatusCode, Is.EqualTo(Grpc.Core.StatusCode.Unauthenticated), "a forgotten credential's token is still refused");
            Assert.That(clients.Clients.Select(client => client.ClientId), Is.EquivalentTo(new[] { BudgetServiceHost.ClientId, "kept" }));
        });
    }

    /// <summary>Polls for an effect of the service's background work, with a generous timeout.</summary>
    private static async Task<bool> EventuallyAsync(Func<Task<bool>> condition)
    {
        var waited = Stopwatch.StartNew();
        while (!await condition())
        {
            if (waited.Elapsed > TimeSpan.FromSeconds(30))
            {
                return false;
            }

            await Task.Delay(20);
        }

        return true;
    }
}
