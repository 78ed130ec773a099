using Grpc.Core;
using Keybrake.Protocol;
using static Keybrake.BudgetService.Tests.Calls;
using static Keybrake.BudgetService.Tests.Leases.LeaseServiceTests;

namespace Keybrake.BudgetService.Tests.Leases;

/// <summary>
/// Revoking a client credential voids the leases it took, at the service, at once: the budget they held goes back to
/// the other credentials' processes instead of staying reserved until the leases' TTL. Through the real service and
/// real gRPC clients, on both store engines.
/// </summary>
[TestFixture(StoreEngine.Sqlite)]
[TestFixture(StoreEngine.PostgreSql)]
public sealed class CredentialRevocationLeaseTests(StoreEngine engine)
{
    /// <summary>
    /// A leasing key; the revoke call waits this long at most for the revoked credential's streams, which the tests'
    /// streams never confirm (what the call waits for is not what these tests are about).
    /// </summary>
    private static Dictionary<string, string?> Settings(string dailyCap)
    {
        var settings = LeasingKey("agent", dailyCap);
        settings["BudgetService:KeyEventAckTimeout"] = "00:00:00.200";
        return settings;
    }

    [Test]
    public async Task Revoking_a_credential_voids_its_lease_and_another_credential_can_spend_that_budget_at_once()
    {
        await using var service = await TestService.StartAsync(engine, Settings(dailyCap: "5"));
        var (fleet, _) = await service.ClientForAsync("fleet-a", "agent");
        await using var fleetStream = await LeaseStream.OpenAsync(fleet, "agent");
        await using var observer = await LeaseStream.OpenAsync(service.Budget, "agent");
        var lease = Lease("agent", fleetStream.Holder, 2);
        var grant = await fleet.LeaseAsync(lease);

        // The other credential reserves the rest of the $5 cap; one more dollar does not fit while the lease holds $2.
        var rest = await service.Budget.AuthorizeAsync(Authorize("agent", 3));
        var before = await service.Budget.AuthorizeAsync(Authorize("agent", 1));
        var heldKey = await service.Admin.GetKeyAsync(new GetKeyRequest { KeyId = "agent" });

        var revoked = await service.Admin.RevokeClientAsync(new ClientActionRequest { ClientId = "fleet-a" });
        var listed = await service.Admin.ListLeasesAsync(new ListLeasesRequest { KeyId = "agent", IncludeEnded = true });
        var key = await service.Admin.GetKeyAsync(new GetKeyRequest { KeyId = "agent" });
        var today = await service.TodayAsync("agent");
        var after = await service.Budget.AuthorizeAsync(Authorize("agent", 1));
        var refused = Assert.ThrowsAsync<RpcException>(async () => await fleet.LeaseAsync(Lease("agent", fleetStream.Holder, 2)));
        var returned = await observer.NextAsync(KeyEventKind.LeaseReturned); // last: the books are the point, the event follows them
        Assert.Multiple(() =>
        {
            Assert.That((grant.Granted, grant.GrantedMicroUsd), Is.EqualTo((true, Dollars(2))));
            Assert.That(rest.Allowed, Is.True);
            Assert.That((before.Allowed, before.Reason), Is.EqualTo((false, "daily_cap_exceeded")), "the lease holds $2 of the $5");
            Assert.That(heldKey.LeasedMicroUsd, Is.EqualTo(Dollars(2)));
            Assert.That(revoked.Revoked, Is.True);
            Assert.That((returned.Keys.Single().KeyId, returned.RunId), Is.EqualTo(("agent", "")), "the callers denied meanwhile are told to ask again");
            Assert.That(listed.Leases.Select(l => (l.LeaseId, l.ClientId, l.State, l.OutstandingMicroUsd)), Is.EqualTo(new[] { (lease.LeaseId, "fleet-a", "voided", 0L) }));
            Assert.That(listed.Leases.Single().EndedAt, Is.Not.Empty);
            Assert.That(listed.OutstandingMicroUsd, Is.Zero);
            Assert.That(key.LeasedMicroUsd, Is.Zero);
            Assert.That(today.ReservedMicroUsd, Is.EqualTo(Dollars(3)), "only the other credential's reservation");
            Assert.That(after.Allowed, Is.True, "the voided lease's budget is free at once, not at its TTL");
            Assert.That(refused!.StatusCode, Is.EqualTo(StatusCode.Unauthenticated));
        });
    }

    [Test]
    public async Task Another_credential_s_leases_are_untouched_and_a_credential_with_no_leases_voids_nothing()
    {
        await using var service = await TestService.StartAsync(engine, Settings(dailyCap: "10"));
        var (fleetA, _) = await service.ClientForAsync("fleet-a", "agent");
        var (fleetB, _) = await service.ClientForAsync("fleet-b", "agent");
        await service.ClientForAsync("idle", "agent");
        await using var streamA = await LeaseStream.OpenAsync(fleetA, "agent");
        await using var streamB = await LeaseStream.OpenAsync(fleetB, "agent");
        var leaseA = Lease("agent", streamA.Holder, 2);
        var leaseB = Lease("agent", streamB.Holder, 2);
        var grantA = await fleetA.LeaseAsync(leaseA);
        var grantB = await fleetB.LeaseAsync(leaseB);

        // A credential that holds no lease: its revocation voids nothing.
        var idle = await service.Admin.RevokeClientAsync(new ClientActionRequest { ClientId = "idle" });
        var afterIdle = await service.Admin.ListLeasesAsync(new ListLeasesRequest { KeyId = "agent", IncludeEnded = true });
        var todayAfterIdle = await service.TodayAsync("agent");

        var revoked = await service.Admin.RevokeClientAsync(new ClientActionRequest { ClientId = "fleet-a" });
        var listed = await service.Admin.ListLeasesAsync(new ListLeasesRequest { KeyId = "agent", IncludeEnded = true });
        var key = await service.Admin.GetKeyAsync(new GetKeyRequest { KeyId = "agent" });
        var today = await service.TodayAsync("agent");

        // The other credential still holds its lease and uses it: its leased call is recorded as before.
        var settled = await fleetB.SettleAsync(new SettleRequest { LeasedCalls = { Leased(leaseB.LeaseId, "agent", 1) } });
        var returned = await streamB.NextAsync(KeyEventKind.LeaseReturned);
        Assert.Multiple(() =>
        {
            Assert.That((grantA.Granted, grantB.Granted), Is.EqualTo((true, true)));
            Assert.That(idle.Revoked, Is.True);
            Assert.That(afterIdle.Leases.Select(l => l.State), Is.EqualTo(new[] { "active", "active" }), "the idle credential's revocation voided nothing");
            Assert.That(afterIdle.OutstandingMicroUsd, Is.EqualTo(Dollars(4)));
            Assert.That(todayAfterIdle.ReservedMicroUsd, Is.EqualTo(Dollars(4)));
            Assert.That(revoked.Revoked, Is.True);
            Assert.That(returned.Keys.Single().KeyId, Is.EqualTo("agent"));
            Assert.That(listed.Leases.ToDictionary(l => l.LeaseId, l => (l.ClientId, l.State)), Is.EquivalentTo(new Dictionary<string, (string, string)>
            {
                [leaseA.LeaseId] = ("fleet-a", "voided"),
                [leaseB.LeaseId] = ("fleet-b", "active"),
            }));
            Assert.That(key.LeasedMicroUsd, Is.EqualTo(Dollars(2)), "fleet-b's lease still counts");
            Assert.That(today.ReservedMicroUsd, Is.EqualTo(Dollars(2)));
            Assert.That(settled.LeasedCallsRecorded, Is.EqualTo(1));
        });
    }
}
