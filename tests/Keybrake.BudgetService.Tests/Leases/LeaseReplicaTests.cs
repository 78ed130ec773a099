using Keybrake.BudgetService.Tests.Replicas;
using Keybrake.Protocol;
using static Keybrake.BudgetService.Tests.Calls;
using static Keybrake.BudgetService.Tests.Leases.LeaseServiceTests;

namespace Keybrake.BudgetService.Tests.Leases;

/// <summary>Lease events reach every replica's streams, as revocations do, once each.</summary>
public sealed class LeaseReplicaTests
{
    [Test]
    public async Task A_recall_and_a_return_through_one_replica_reach_a_holder_watching_another_once()
    {
        var settings = LeasingKey("agent", "10");
        await using var a = await TestService.StartAsync(StoreEngine.PostgreSql, settings);
        await using var b = await Replica.AlongsideAsync(a, settings);
        await using var holder = await LeaseStream.OpenAsync(b.Budget, "agent");

        // Taken through replica A for a process whose stream is on replica B.
        var request = Lease("agent", holder.Holder, 2);
        var grant = await a.Budget.LeaseAsync(request);
        await a.Budget.AuthorizeAsync(Authorize("agent", 7));
        var denied = await a.Budget.AuthorizeAsync(Authorize("agent", 2));
        var recall = await holder.NextAsync(KeyEventKind.LeasesRecalled);
        await a.Budget.SettleAsync(new SettleRequest { ReturnedLeases = { request.LeaseId } });
        var next = await holder.NextAsync();
        var listed = await b.Admin.ListLeasesAsync(new ListLeasesRequest { KeyId = "agent", IncludeEnded = true });
        Assert.Multiple(() =>
        {
            Assert.That(grant.GrantedMicroUsd, Is.EqualTo(Dollars(2)));
            Assert.That(denied.LeasesRecalled, Is.True);
            Assert.That(recall.Keys.Single().KeyId, Is.EqualTo("agent"));
            Assert.That((next.Kind, next.Keys.Single().KeyId), Is.EqualTo((KeyEventKind.LeaseReturned, "agent")), "the recall came once; then the return");
            Assert.That(listed.Leases.Single().State, Is.EqualTo("returned"));
        });
    }
}
