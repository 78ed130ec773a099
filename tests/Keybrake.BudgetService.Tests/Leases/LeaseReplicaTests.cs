using Grpc.Core;
using Keybrake.BudgetService.Tests.Replicas;
using Keybrake.Client.TestUtilities;
using Keybrake.Client.TestUtilities.BudgetService;
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

    [Test]
    public async Task A_credential_revoked_through_one_replica_has_the_lease_it_took_through_another_voided_and_that_replica_s_streams_told()
    {
        var settings = LeasingKey("agent", "5");
        settings["BudgetService:KeyEventAckTimeout"] = "00:00:00.200"; // the fleet's stream never confirms
        await using var a = await TestService.StartAsync(StoreEngine.PostgreSql, settings);
        await using var b = await Replica.AlongsideAsync(a, settings);
        var (_, token) = await a.ClientForAsync("fleet-1", "agent");
        var fleetOnB = BudgetServiceHost.BudgetClient(b.Channel, token);
        await Poll.UntilAsync<string?>(
            async () =>
            {
                try
                {
                    return (await fleetOnB.GetKeyPolicyAsync(new GetKeyPolicyRequest { KeyId = "agent" })).KeyId;
                }
                catch (RpcException exception) when (exception.StatusCode == StatusCode.Unauthenticated)
                {
                    return null; // B has not heard of the credential yet
                }
            },
            keyId => keyId is not null);
        await using var fleetStream = await LeaseStream.OpenAsync(fleetOnB, "agent");
        await using var observer = await LeaseStream.OpenAsync(b.Budget, "agent");
        var lease = Lease("agent", fleetStream.Holder, 2);
        var grant = await fleetOnB.LeaseAsync(lease);
        await b.Budget.AuthorizeAsync(Authorize("agent", 3));
        var before = await b.Budget.AuthorizeAsync(Authorize("agent", 1));

        // Revoked through A, which holds none of the credential's streams: A voids the lease and relays the return to B.
        await a.Admin.RevokeClientAsync(new ClientActionRequest { ClientId = "fleet-1" });
        var returned = await observer.NextAsync(KeyEventKind.LeaseReturned);
        var listed = await b.Admin.ListLeasesAsync(new ListLeasesRequest { KeyId = "agent", IncludeEnded = true });
        var after = await b.Budget.AuthorizeAsync(Authorize("agent", 1));
        Assert.Multiple(() =>
        {
            Assert.That(grant.GrantedMicroUsd, Is.EqualTo(Dollars(2)));
            Assert.That(before.Allowed, Is.False, "the lease holds $2 of the $5");
            Assert.That(returned.Keys.Single().KeyId, Is.EqualTo("agent"));
            Assert.That(listed.Leases.Select(l => (l.LeaseId, l.State)), Is.EqualTo(new[] { (lease.LeaseId, "voided") }));
            Assert.That(after.Allowed, Is.True);
        });
    }
}
