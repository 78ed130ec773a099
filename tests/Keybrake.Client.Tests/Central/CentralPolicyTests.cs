using System.Net;
using Grpc.Net.Client;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Protocol;
using Microsoft.Extensions.Time.Testing;
using static Keybrake.Client.Tests.CentralGuardHost;

namespace Keybrake.Client.Tests;

/// <summary>In central mode the service's policy is every process's, tightened by the process's own, and changes reach processes as they happen.</summary>
public sealed class CentralPolicyTests
{
    [Test]
    public async Task A_policy_changed_through_the_admin_API_applies_to_the_process_s_next_calls()
    {
        // A still clock: nothing expires on its own, so only the change event can make the process refetch.
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var service = await StartServiceAsync();
        await using var host = Start(service.Address, time: clock);
        using var admin = GrpcChannel.ForAddress(service.Address);
        var client = BudgetServiceHost.AdminClient(admin);
        using var before = await host.ReadAsync();
        await TestUtilities.Poll.UntilAsync(() => Task.FromResult(host.Ledger.IsWatchingKeys), watching => watching);

        var current = await client.GetKeyAsync(new GetKeyRequest { KeyId = KeyId });
        var policy = current.Policy.Clone();
        policy.DenyEndpoints.Add("GET /v1/items/**");
        await client.UpdateKeyPolicyAsync(new UpdateKeyPolicyRequest { KeyId = KeyId, Policy = policy });
        var denied = await TestUtilities.Poll.UntilAsync<string?>(ReadDecisionAsync, decision => decision is not null);
        using var spend = await host.SpendAsync(100);

        async Task<string?> ReadDecisionAsync()
        {
            using var read = await host.ReadAsync();
            return DecisionOf(read);
        }

        Assert.Multiple(() =>
        {
            Assert.That(before.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(denied, Is.EqualTo(ReasonCodes.EndpointNotAllowed));
            Assert.That(spend.StatusCode, Is.EqualTo(HttpStatusCode.OK), "the rest of the policy still allows spending");
            Assert.That(host.Vendor.Received.Count(r => r.Method == "GET"), Is.EqualTo(1), "no read passed after the change was seen");
        });
    }

    [Test]
    public async Task A_process_s_own_policy_tightens_the_service_s_and_cannot_loosen_it()
    {
        await using var service = await StartServiceAsync(dailyCap: "100");
        using var admin = GrpcChannel.ForAddress(service.Address);
        var client = BudgetServiceHost.AdminClient(admin);
        var policy = (await client.GetKeyAsync(new GetKeyRequest { KeyId = KeyId })).Policy;
        policy.PerRequestMaxMicroUsd = Usd.FromDollars(5).Micros;
        await client.UpdateKeyPolicyAsync(new UpdateKeyPolicyRequest { KeyId = KeyId, Policy = policy });

        // The process denies reads and allows up to $50 a call; the service allows reads and $5 a call.
        await using var host = Start(service.Address, policy: p =>
        {
            p.Endpoints.Deny.Add("GET /v1/items/**");
            p.PerRequestMax = Usd.FromDollars(50);
        });
        using var read = await host.ReadAsync();
        using var small = await host.SpendAsync(400);
        using var large = await host.SpendAsync(1_000);

        Assert.Multiple(() =>
        {
            Assert.That(DecisionOf(read), Is.EqualTo(ReasonCodes.EndpointNotAllowed), "the process's deny rule still applies");
            Assert.That(small.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(DecisionOf(large), Is.EqualTo(ReasonCodes.AmountOverRequestLimit), "the service's $5 maximum wins over the process's $50");
        });
    }

    [Test]
    public async Task After_the_service_restarts_the_process_reconnects_and_applies_a_revocation_made_while_it_was_away()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var first = await StartServiceAsync();
        var directory = first.Directory;
        var port = first.Address.Port;
        await using var host = Start(service: first.Address, time: clock, budgetService: o => o.KeyStatusCacheDuration = TimeSpan.FromMinutes(10));
        using var before = await host.ReadAsync();
        await TestUtilities.Poll.UntilAsync(() => Task.FromResult(host.Ledger.IsWatchingKeys), watching => watching);

        // The service goes away; while no process can hear it, the key is revoked (through a second instance on
        // the same data and another port); then the service comes back where the process expects it.
        await first.StopAsync();
        await TestUtilities.Poll.UntilAsync(() => Task.FromResult(host.Ledger.IsWatchingKeys), watching => !watching);
        await using (var elsewhere = await BudgetServiceHost.StartAsync(BudgetServiceHost.Key(KeyId, "100", vendor: TestVendorProfile.Name), directory))
        {
            using var admin = GrpcChannel.ForAddress(elsewhere.Address);
            await BudgetServiceHost.AdminClient(admin).RevokeKeyAsync(new KeyActionRequest { KeyId = KeyId });
            await elsewhere.StopAsync();
        }

        await using var back = await BudgetServiceHost.StartAsync(BudgetServiceHost.Key(KeyId, "100", vendor: TestVendorProfile.Name), directory, port);
        var reconnected = await TestUtilities.Poll.UntilAsync(() => Task.FromResult(host.Ledger.IsWatchingKeys), watching => watching, TimeSpan.FromSeconds(20));

        // Only now a read: with the stream current, its answer comes from the snapshot, not from asking.
        using var after = await host.ReadAsync();

        Assert.Multiple(() =>
        {
            Assert.That(before.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(reconnected, Is.True, "the process reconnected on its own");
            Assert.That(DecisionOf(after), Is.EqualTo(ReasonCodes.KeyRevoked));
            Assert.That(host.Vendor.Received, Has.Count.EqualTo(1));
        });
    }
}
