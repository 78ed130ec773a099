using Grpc.Core;
using Grpc.Net.Client;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Client.TestUtilities.Logging;
using Keybrake.Protocol;
using Microsoft.Extensions.Logging;
using static Keybrake.BudgetService.Tests.Calls;

namespace Keybrake.BudgetService.Tests.Clients;

/// <summary>Refused calls are logged, so an operator sees the attempt, and no token ever is.</summary>
public sealed class CredentialLoggingTests
{
    [Test]
    public async Task Refused_and_out_of_scope_calls_are_logged_by_client_and_key_and_never_with_a_token()
    {
        const string Wrong = "kbc_wrongTokenThatMustNotBeLogged0123456789ab";
        var logs = new CapturingLoggerProvider();
        await using var service = await BudgetServiceHost.StartAsync(
            TestService.Settings(BudgetServiceHost.Key("victim", "100"), BudgetServiceHost.Key("attacker", "100")),
            configure: builder => builder.Logging.AddProvider(logs));
        using var channel = GrpcChannel.ForAddress(service.Address);
        var issued = await BudgetServiceHost.AdminClient(channel).CreateClientAsync(new CreateClientRequest { ClientId = "attacker-fleet", KeyIds = { "attacker" } });
        var attacker = BudgetServiceHost.BudgetClient(channel, issued.Token);

        Assert.ThrowsAsync<RpcException>(async () => await BudgetServiceHost.BudgetClient(channel, Wrong).AuthorizeAsync(Authorize("victim", 1)));
        Assert.ThrowsAsync<RpcException>(async () => await attacker.AuthorizeAsync(Authorize("victim", 1)));
        var victimReservation = await BudgetServiceHost.BudgetClient(channel).AuthorizeAsync(Authorize("victim", 5));
        await attacker.SettleAsync(new SettleRequest { Settlements = { Commit(victimReservation.ReservationId, 0) } });
        await BudgetServiceHost.AdminClient(channel).RevokeClientAsync(new ClientActionRequest { ClientId = "attacker-fleet" });
        Assert.ThrowsAsync<RpcException>(async () => await attacker.PingAsync(new PingRequest()));

        var text = string.Join('\n', logs.Logs.Select(l => l.Message + l.Exception));
        Assert.Multiple(() =>
        {
            Assert.That(text, Does.Contain("Refused a /keybrake.budget.v1.Budget/Authorize call without a valid client credential (not one the service issued)"));
            Assert.That(text, Does.Contain("Refused client 'attacker-fleet': /keybrake.budget.v1.Budget/Authorize named key 'victim', which is outside its scope"));
            Assert.That(text, Does.Contain("Client 'attacker-fleet' sent 1 settlements for reservations outside its scope"));
            Assert.That(text, Does.Contain("credential 'attacker-fleet' is revoked"));
            Assert.That(text, Does.Not.Contain(Wrong).And.Not.Contain(issued.Token).And.Not.Contain(BudgetServiceHost.ClientToken).And.Not.Contain("kbc_"));
        });
    }
}
