using Keybrake.BudgetService.Store.Postgres;
using Keybrake.Client.TestUtilities;
using Keybrake.Protocol;
using Npgsql;
using static Keybrake.BudgetService.Tests.Calls;
using static Keybrake.BudgetService.Tests.Leases.LeaseServiceTests;

namespace Keybrake.BudgetService.Tests.Leases;

/// <summary>
/// A grant already under way when its credential is revoked is stored after the revocation's void: the Lease call
/// voids it itself. On PostgreSQL, where the test can hold the grant at the key's lock for as long as it needs.
/// </summary>
public sealed class CredentialRevocationRaceTests
{
    [Test]
    public async Task A_grant_stored_after_its_credential_s_revocation_voided_its_leases_is_voided_by_the_lease_call()
    {
        var settings = LeasingKey("agent", "5");
        settings["BudgetService:KeyEventAckTimeout"] = "00:00:00.200"; // the fleet's stream never confirms
        await using var service = await TestService.StartAsync(StoreEngine.PostgreSql, settings);
        var (fleet, _) = await service.ClientForAsync("fleet-a", "agent");
        await using var fleetStream = await LeaseStream.OpenAsync(fleet, "agent");

        // The key's lock held exclusively (as a key revocation holds it): the grant passes the credential check, then
        // waits for the lock inside its transaction.
        await using var blocker = new NpgsqlConnection(service.Postgres);
        await blocker.OpenAsync();
        await using var blocking = await blocker.BeginTransactionAsync();
        await using (var take = new NpgsqlCommand(KeyLock.Exclusive, blocker, blocking) { Parameters = { new() { Value = "agent" } } })
        {
            await take.ExecuteNonQueryAsync();
        }

        var lease = Lease("agent", fleetStream.Holder, 2);
        var granting = fleet.LeaseAsync(lease).ResponseAsync;
        await Poll.UntilAsync<bool>(() => WaitingForLockAsync(blocker), waiting => waiting || granting.IsCompleted);
        Assert.That(granting.IsCompleted, Is.False, "the grant waits for the key's lock");

        // The revocation's own void runs while the grant is not stored yet: it finds nothing to void.
        var revoked = await service.Admin.RevokeClientAsync(new ClientActionRequest { ClientId = "fleet-a" });
        var meanwhile = await service.Admin.ListLeasesAsync(new ListLeasesRequest { KeyId = "agent", IncludeEnded = true });
        await blocking.RollbackAsync();
        var reply = await granting;

        var listed = await service.Admin.ListLeasesAsync(new ListLeasesRequest { KeyId = "agent", IncludeEnded = true });
        var today = await service.TodayAsync("agent");
        var spend = await service.Budget.AuthorizeAsync(Authorize("agent", 5));
        Assert.Multiple(() =>
        {
            Assert.That(revoked.Revoked, Is.True);
            Assert.That(meanwhile.Leases, Is.Empty, "not stored when the revocation voided the credential's leases");
            Assert.That((reply.Granted, reply.GrantedMicroUsd, reply.Reason), Is.EqualTo((false, 0L, "revoked")));
            Assert.That(listed.Leases.Select(l => (l.LeaseId, l.State)), Is.EqualTo(new[] { (lease.LeaseId, "voided") }));
            Assert.That(today.ReservedMicroUsd, Is.Zero);
            Assert.That(spend.Allowed, Is.True, "the whole cap is free again");
        });
    }

    private static async Task<bool> WaitingForLockAsync(NpgsqlConnection connection)
    {
        await using var command = new NpgsqlCommand(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))",
            connection);
        return await command.ExecuteScalarAsync() is true;
    }
}
