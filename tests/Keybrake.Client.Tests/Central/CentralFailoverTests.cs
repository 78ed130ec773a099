using System.Net;
using Keybrake.Client.Central;
using Keybrake.Client.TestUtilities;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Client.TestUtilities.Network;
using Keybrake.Client.TestUtilities.Postgres;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using Npgsql;
using static Keybrake.Client.Tests.CentralGuardHost;

namespace Keybrake.Client.Tests;

/// <summary>
/// The guard with two replicas of the budget service in its address list, both real services on one PostgreSQL
/// database: a call that cannot be answered by one replica is answered by the other, once, and a replica that is
/// stopped or cannot reach its database is passed over.
/// </summary>
[NonParallelizable]
public sealed class CentralFailoverTests
{
    [Test]
    public async Task An_authorize_whose_reply_was_lost_is_retried_on_the_other_replica_and_reserved_once()
    {
        await using var replicas = await Replicas.StartAsync();
        await using var host = replicas.Guard();
        var warmUps = await WarmUpBothAsync(host);
        var before = host.Wire.Ports(BudgetServiceWire.Authorize).Count;

        // The first replica reserves, and its answer is lost on the way back.
        host.Wire.LoseReplies(BudgetServiceWire.Authorize);
        using var response = await host.SpendAsync(700, idempotencyKey: "idem-failover-1");
        var spend = await host.SettledTodayAsync();

        var attempts = host.Wire.Ports(BudgetServiceWire.Authorize).Skip(before).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(attempts, Has.Count.EqualTo(2), "the lost answer was retried once");
            Assert.That(attempts.Distinct().Count(), Is.EqualTo(2), "the retry went to the other replica");
            Assert.That(host.Vendor.Received.Count(r => r.Method == "POST"), Is.EqualTo(1 + warmUps));
            Assert.That(spend.Committed, Is.EqualTo(Usd.FromCents(700 + (warmUps * 100))), "reserved and committed once, by the idempotency key both replicas saw");
        });
    }

    [Test]
    public async Task When_a_replica_stops_every_call_and_the_key_event_stream_go_on_through_the_other()
    {
        await using var replicas = await Replicas.StartAsync();
        await using var host = replicas.Guard();
        var warmUps = await WarmUpBothAsync(host);
        await Poll.UntilAsync(() => host.Ledger.Watcher.IsCurrent, current => current);

        await replicas.First.StopAsync();
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 8; i++)
        {
            using var response = await host.SpendAsync(100);
            statuses.Add(response.StatusCode);
        }

        // The stream was on either replica; it is current again, so it is on the one still running.
        var current = await Poll.UntilAsync(() => host.Ledger.Watcher.IsCurrent, c => c);
        await host.Admin.RevokeKeyAsync(KeyId);
        var revoked = await Poll.UntilAsync(() => host.Ledger.Watcher.TryGet(KeyId, out var r, out _) && r, r => r);
        var spend = await host.SettledTodayAsync();

        Assert.Multiple(() =>
        {
            Assert.That(statuses, Is.All.EqualTo(HttpStatusCode.OK), "no call failed closed while a replica was running");
            Assert.That(spend.Committed, Is.EqualTo(Usd.FromCents(100 * (8 + warmUps))));
            Assert.That(current, Is.True, "the key event stream reconnected to the other replica");
            Assert.That(revoked, Is.True, "a revocation reached the stream through the replica still running");
        });
    }

    [Test]
    public async Task A_replica_that_cannot_reach_its_database_is_passed_over_and_no_call_fails()
    {
        await using var replicas = await Replicas.StartAsync(relayFirst: true);

        // A clock that does not move: the failing replica's rest cannot end while the test looks, however slow the machine.
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var host = replicas.Guard(services => services.AddSingleton(sp => new ReplicaHealth(clock, sp.GetRequiredService<ILogger<ReplicaHealth>>())));
        var warmUps = await WarmUpBothAsync(host);

        // The first replica's database connections drop and cannot be opened again: it answers Unavailable.
        replicas.Relay!.Cut();
        var before = host.Wire.Ports().Count;
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 12; i++)
        {
            using var response = await host.SpendAsync(100);
            statuses.Add(response.StatusCode);
        }

        var spend = await host.SettledTodayAsync();
        var attempts = host.Wire.Ports().Skip(before).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(statuses, Is.All.EqualTo(HttpStatusCode.OK), "each call that met the failing replica was retried on the other");
            Assert.That(attempts.Count(port => port == replicas.First.Address.Port), Is.EqualTo(1), "the failing replica was passed over once it failed a call (of any kind: audit, settle, authorize)");
            Assert.That(spend.Committed, Is.EqualTo(Usd.FromCents(100 * (12 + warmUps))));
            Assert.That(host.Logs.Logs.Select(l => l.Message), Has.Some.Contains($"replica at 127.0.0.1:{replicas.First.Address.Port} failed a call"));
        });
    }

    /// <summary>Spends 100 cents until both replicas have answered an Authorize (both are connected); returns how many spends that took.</summary>
    private static async Task<int> WarmUpBothAsync(CentralGuardHost host)
    {
        var spends = 0;
        await Poll.UntilAsync(
            async () =>
            {
                using var response = await host.SpendAsync(100);
                Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
                spends++;
                return host.Wire.Ports(BudgetServiceWire.Authorize).Distinct().Count();
            },
            count => count == 2);
        return spends;
    }

    /// <summary>Two replicas of the service on one fresh PostgreSQL database, the first optionally through a relay the test can cut.</summary>
    private sealed class Replicas : IAsyncDisposable
    {
        private Replicas(BudgetServiceHost first, BudgetServiceHost second, TcpRelay? relay)
        {
            First = first;
            Second = second;
            Relay = relay;
        }

        public BudgetServiceHost First { get; }

        public BudgetServiceHost Second { get; }

        public TcpRelay? Relay { get; }

        public static async Task<Replicas> StartAsync(bool relayFirst = false)
        {
            var cluster = await PostgresCluster.SharedAsync();
            var database = await cluster.CreateDatabaseAsync();
            var relay = relayFirst ? TcpRelay.Start(cluster.Port) : null;
            var firstDatabase = relay is null ? database : new NpgsqlConnectionStringBuilder(database) { Port = relay.Port, Timeout = 5 }.ConnectionString;

            // One after the other: the second finds the schema the first applied.
            var second = await BudgetServiceHost.StartAsync(BudgetServiceHost.Key(KeyId, "100", vendor: TestVendorProfile.Name), postgres: database);
            var first = await BudgetServiceHost.StartAsync(BudgetServiceHost.Key(KeyId, "100", vendor: TestVendorProfile.Name), postgres: firstDatabase);
            return new Replicas(first, second, relay);
        }

        public CentralGuardHost Guard(Action<IServiceCollection>? replace = null) => Start(
            First.Address,
            budgetService: o =>
            {
                o.Address = null;
                o.Addresses.Add(First.Address);
                o.Addresses.Add(Second.Address);
            },
            replace: replace);

        public async ValueTask DisposeAsync()
        {
            await First.DisposeAsync();
            await Second.DisposeAsync();
            if (Relay is not null)
            {
                await Relay.DisposeAsync();
            }
        }
    }
}
