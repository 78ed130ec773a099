using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Keybrake.Client.TestUtilities;
using Microsoft.Extensions.Time.Testing;
using static Keybrake.Client.Tests.CentralGuardHost;

namespace Keybrake.Client.Tests;

public sealed class CentralOutageTests
{
    [Test]
    public async Task A_call_that_costs_money_fails_closed_when_the_service_is_stopped()
    {
        await using var service = await CentralGuardHost.StartServiceAsync();
        await using var host = CentralGuardHost.Start(service.Address);
        await service.StopAsync();

        using var response = await host.SpendAsync(1_000);

        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Multiple(() =>
        {
            Assert.That(DecisionOf(response), Is.EqualTo(ReasonCodes.BudgetServiceUnavailable));
            Assert.That((int)response.StatusCode, Is.EqualTo(424), "a vendor-shaped denial no SDK retries");
            Assert.That(body.RootElement.GetProperty("error").GetProperty("reason").GetString(), Is.EqualTo(ReasonCodes.BudgetServiceUnavailable));
            Assert.That(host.Vendor.Received, Is.Empty);
        });
    }

    [Test]
    public async Task A_call_that_costs_money_fails_closed_when_the_service_was_never_reachable()
    {
        await using var host = CentralGuardHost.Start(new Uri($"http://127.0.0.1:{UnusedPort()}"));

        using var response = await host.SpendAsync(1_000);

        Assert.Multiple(() =>
        {
            Assert.That(DecisionOf(response), Is.EqualTo(ReasonCodes.BudgetServiceUnavailable));
            Assert.That(host.Vendor.Received, Is.Empty);
        });
    }

    [TestCase(OutageBehavior.Allow, HttpStatusCode.OK, 2)]
    [TestCase(OutageBehavior.Deny, (HttpStatusCode)424, 1)]
    public async Task Reads_during_an_outage_follow_the_key_s_policy_while_money_calls_fail_closed(OutageBehavior behavior, HttpStatusCode readStatus, int readsAtVendor)
    {
        await using var service = await CentralGuardHost.StartServiceAsync();
        await using var host = CentralGuardHost.Start(
            service.Address,
            policy: p => p.ReadsDuringOutage = behavior,
            budgetService: o => o.KeyStatusCacheDuration = TimeSpan.Zero);
        using var beforeOutage = await host.ReadAsync();
        await service.StopAsync();

        // Until the guard sees its key event stream end, the stream's view of the key still counts (within
        // RevocationStaleness): the outage begins, for the guard, when it notices.
        var stillWatching = await Poll.UntilAsync(() => host.Ledger.IsWatchingKeys, watching => !watching);
        Assert.That(stillWatching, Is.False, "the guard noticed that its key event stream ended");

        using var read = await host.ReadAsync();
        using var spend = await host.SpendAsync(1_000);

        Assert.Multiple(() =>
        {
            Assert.That(beforeOutage.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(read.StatusCode, Is.EqualTo(readStatus));
            Assert.That(DecisionOf(read), Is.EqualTo(behavior == OutageBehavior.Deny ? ReasonCodes.BudgetServiceUnavailable : null));
            Assert.That(DecisionOf(spend), Is.EqualTo(ReasonCodes.BudgetServiceUnavailable));
            Assert.That(host.Vendor.Received.Select(r => r.Method), Is.EqualTo(Enumerable.Repeat("GET", readsAtVendor)));
        });
    }

    [Test]
    public async Task Once_the_circuit_opens_calls_fail_without_reaching_for_the_service_until_it_half_opens()
    {
        // A fake clock: the circuit's break cannot end while the test looks, however slow the machine.
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var service = await CentralGuardHost.StartServiceAsync();
        await using var host = CentralGuardHost.Start(service.Address, time: clock, budgetService: o => o.MaxRetries = 0);
        using var beforeOutage = await host.SpendAsync(100);
        await host.SettledTodayAsync();
        await service.StopAsync();

        // Calls that find the service down, until one is failed by the open circuit without an attempt.
        var callsUntilOpen = 0;
        var reachedForTheService = true;
        while (reachedForTheService && callsUntilOpen < 50)
        {
            var before = host.Wire.Attempts(BudgetServiceWire.Authorize);
            using var failing = await host.SpendAsync(100);
            Assert.That(DecisionOf(failing), Is.EqualTo(ReasonCodes.BudgetServiceUnavailable));
            reachedForTheService = host.Wire.Attempts(BudgetServiceWire.Authorize) > before;
            callsUntilOpen++;
        }

        var attemptsWhenOpen = host.Wire.Attempts(BudgetServiceWire.Authorize);
        var whileOpen = new List<string?>();
        for (var i = 0; i < 10; i++)
        {
            using var response = await host.SpendAsync(100);
            whileOpen.Add(DecisionOf(response));
        }

        var attemptsWhileOpen = host.Wire.Attempts(BudgetServiceWire.Authorize) - attemptsWhenOpen;
        await using var restarted = await CentralGuardHost.StartServiceAsync(directory: service.Directory, port: service.Address.Port);

        // Each try waits out the break first; the connection itself comes back on the channel's own (real) schedule.
        var afterBreak = await Poll.UntilAsync(
            async () =>
            {
                clock.Advance(TimeSpan.FromSeconds(3));
                using var response = await host.SpendAsync(100);
                return response.StatusCode;
            },
            status => status == HttpStatusCode.OK);

        Assert.Multiple(() =>
        {
            Assert.That(beforeOutage.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(callsUntilOpen, Is.LessThan(50), "the circuit opened");
            Assert.That(whileOpen, Is.All.EqualTo(ReasonCodes.BudgetServiceUnavailable));
            Assert.That(attemptsWhileOpen, Is.Zero, "an open circuit fails calls at once, without a call to the service");
            Assert.That(host.Logs.Logs.Select(l => l.Message), Has.Some.Contains("circuit"));
            Assert.That(afterBreak, Is.EqualTo(HttpStatusCode.OK), "after the break a call tries the service again, and it is back");
            Assert.That(host.Vendor.Received, Has.Count.EqualTo(2));
        });
    }

    private static int UnusedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
