using System.Net;
using Grpc.Net.Client;
using Keybrake.Client.TestUtilities;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Protocol;
using static Keybrake.Client.Tests.CentralGuardHost;

namespace Keybrake.Client.Tests;

/// <summary>The guard presents its client credential on every call, and a credential the service refuses denies, never allows.</summary>
public sealed class CentralCredentialTests
{
    [Test]
    public async Task Revoking_the_processs_credential_denies_its_very_next_read_and_charge_once_the_revoke_returns()
    {
        // A generous bound: the process confirms long before it on any machine, and the revoke returns as it does.
        var settings = BudgetServiceHost.Key(KeyId, "100", vendor: TestVendorProfile.Name);
        settings["BudgetService:KeyEventAckTimeout"] = "00:00:30";
        await using var service = await BudgetServiceHost.StartAsync(settings);
        using var channel = GrpcChannel.ForAddress(service.Address);
        var admin = BudgetServiceHost.AdminClient(channel);
        var issued = await admin.CreateClientAsync(new CreateClientRequest { ClientId = "fleet-a", KeyIds = { KeyId } });
        await using var host = Start(service.Address, budgetService: o => o.ClientToken = issued.Token);
        using (var charge = await host.SpendAsync(500))
        using (var read = await host.ReadAsync())
        {
            Assert.That((charge.StatusCode, read.StatusCode), Is.EqualTo((HttpStatusCode.OK, HttpStatusCode.OK)));
        }

        await Poll.UntilAsync(() => Task.FromResult(host.Ledger.IsWatchingKeys), watching => watching);
        var revoked = await admin.RevokeClientAsync(new ClientActionRequest { ClientId = "fleet-a" });
        var forwardedBefore = host.Vendor.Received.Count;

        // No waiting: the revoke returned because this process confirmed it had applied the revocation.
        using var nextRead = await host.ReadAsync();
        using var nextCharge = await host.SpendAsync(500);
        var forwardedAfter = host.Vendor.Received.Count;

        var denial = host.Audit.Records.First(r => r.Decision == "deny");
        var everything = string.Join('\n', host.Logs.Logs.Select(l => l.Message + l.Exception).Concat(host.Audit.Records.Select(r => r.Message)));
        Assert.Multiple(() =>
        {
            Assert.That((revoked.Delivery.Processes, revoked.Delivery.Confirmed, revoked.Delivery.Unconfirmed.Count), Is.EqualTo((1, 1, 0)), "the process confirmed the revocation");
            Assert.That(DecisionOf(nextRead), Is.EqualTo(ReasonCodes.KeyRevoked), "the read right after the revoke returned is denied");
            Assert.That(DecisionOf(nextCharge), Is.EqualTo(ReasonCodes.KeyRevoked));
            Assert.That(forwardedAfter, Is.EqualTo(forwardedBefore), "nothing after the revocation reached the vendor");
            Assert.That(denial.Message, Does.Contain("this process's client credential"), "the denial names the credential, not the key, as the cause");
            Assert.That(everything, Does.Not.Contain(issued.Token).And.Not.Contain(issued.Token[4..]), "the token is in no log, exception or audit record");
        });
    }

    [Test]
    public async Task A_credential_scoped_to_other_keys_is_denied_and_never_spends_the_emergency_allowance()
    {
        await using var service = await StartServiceAsync();
        using var channel = GrpcChannel.ForAddress(service.Address);
        var issued = await BudgetServiceHost.AdminClient(channel).CreateClientAsync(new CreateClientRequest { ClientId = "elsewhere", KeyIds = { "some-other-key" } });
        await using var host = Start(service.Address, budgetService: o =>
        {
            o.ClientToken = issued.Token;
            o.EmergencyAllowance = Usd.FromDollars(100);
            o.MaxRetries = 0;
        });

        using var charge = await host.SpendAsync(500);
        using var read = await host.ReadAsync();
        var spend = await host.TodayAsync();

        Assert.Multiple(() =>
        {
            Assert.That(DecisionOf(charge), Is.EqualTo(ReasonCodes.KeyRevoked));
            Assert.That(DecisionOf(read), Is.EqualTo(ReasonCodes.KeyRevoked), "a read fails closed too, whatever ReadsDuringOutage says");
            Assert.That(host.Vendor.Received, Is.Empty);
            Assert.That(spend.Reserved + spend.Settled, Is.EqualTo(Usd.Zero));
        });
    }

    [Test]
    public async Task A_wrong_credential_is_denied_and_named_nowhere()
    {
        const string Wrong = "kbc_aCredentialTheServiceNeverIssued0123456789";
        await using var service = await StartServiceAsync();
        await using var host = Start(service.Address, budgetService: o => o.ClientToken = Wrong);

        using var charge = await host.SpendAsync(500);

        var everything = string.Join('\n', host.Logs.Logs.Select(l => l.Message + l.Exception).Concat(host.Audit.Records.Select(r => r.Message)));
        Assert.Multiple(() =>
        {
            Assert.That(DecisionOf(charge), Is.EqualTo(ReasonCodes.KeyRevoked));
            Assert.That(host.Vendor.Received, Is.Empty);
            Assert.That(everything, Does.Contain("client credential").And.Not.Contain("NeverIssued"));
        });
    }
}
