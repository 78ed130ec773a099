using Keybrake.Protocol;
using static Keybrake.BudgetService.Tests.Calls;
using static Keybrake.BudgetService.Tests.Leases.LeaseServiceTests;

namespace Keybrake.BudgetService.Tests.Leases;

/// <summary>Leases outstanding when the service stops: the next service on the same SQLite file honours them, never twice.</summary>
public sealed class LeaseRestartTests
{
    [Test]
    public async Task A_lease_survives_a_restart_on_the_same_file_honoured_and_not_doubled()
    {
        var settings = LeasingKey("agent", "10");
        await using var first = await TestService.StartAsync(StoreEngine.Sqlite, settings);
        await using var stream = await LeaseStream.OpenAsync(first.Budget, "agent");
        var request = Lease("agent", stream.Holder, 2);
        var grant = await first.Budget.LeaseAsync(request);
        await stream.DisposeAsync();
        await first.StopAsync();

        await using var second = await TestService.StartAsync(StoreEngine.Sqlite, settings, directory: first.Host.Directory);
        await using var again = await LeaseStream.OpenAsync(second.Budget, "agent");
        var held = await second.TodayAsync("agent");
        request.Holder = again.Holder;
        var retry = await second.Budget.LeaseAsync(request);
        var call = Leased(request.LeaseId, "agent", 1);
        var recorded = await second.Budget.SettleAsync(new SettleRequest { LeasedCalls = { call } });
        var after = await second.TodayAsync("agent");
        var listed = await second.Admin.ListLeasesAsync(new ListLeasesRequest { KeyId = "agent" });
        Assert.Multiple(() =>
        {
            Assert.That(grant.GrantedMicroUsd, Is.EqualTo(Dollars(2)));
            Assert.That(held.ReservedMicroUsd, Is.EqualTo(Dollars(2)), "the lease still counts");
            Assert.That(retry, Is.EqualTo(grant), "a retry of the grant is answered as before, and grants nothing new");
            Assert.That(recorded.LeasedCallsRecorded, Is.EqualTo(1), "calls decided on it are honoured");
            Assert.That(after.ReservedMicroUsd, Is.EqualTo(Dollars(2)), "moved from the lease to the reservation, never counted twice");
            Assert.That(listed.Leases.Single().OutstandingMicroUsd, Is.EqualTo(Dollars(1)));
        });
    }
}
