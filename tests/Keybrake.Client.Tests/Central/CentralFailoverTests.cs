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

        var settled = await SettledAtAsync(replicas.Second);
        var attempts = host.Wire.Ports().Skip(before).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(statuses, Is.All.EqualTo(HttpStatusCode.OK), "each call that met the failing replica was retried on the other");
            // At most the calls already on their way to it when it first failed (this test's spend, a settlement
            // batch, an audit batch); round robin alone would have sent it about half of the twelve spends' calls.
            // None at all when the replica's listen connection (cut with the rest) dropped first: it then ends its key
            // event stream with Unavailable, which marks it before any call gets there.
            Assert.That(attempts.Count(port => port == replicas.First.Address.Port), Is.InRange(0, 3), "the failing replica was passed over once it failed a call or ended its stream");
            Assert.That(settled, Is.EqualTo(Usd.FromCents(100 * (12 + warmUps))));
            Assert.That(host.Logs.Logs.Select(l => l.Message), Has.Some.Contains($"replica at 127.0.0.1:{replicas.First.Address.Port} failed a call"));
        });
    }

    [Test]
    public async Task A_replica_that_ends_the_key_event_stream_with_unavailable_is_passed_over_and_the_stream_moves_to_the_other()
    {
        var ending = new EndingStreams(always: true);
        var other = new EndingStreams(always: false);
        await using var replicas = await Replicas.StartAsync(configureFirst: Intercept(ending), configureSecond: Intercept(other));

        // The rest of a failing replica ends only when the test moves this clock.
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var host = replicas.Guard(services => services.AddSingleton(sp => new ReplicaHealth(clock, sp.GetRequiredService<ILogger<ReplicaHealth>>())));
        var health = host.Services.GetRequiredService<ReplicaHealth>();
        await WarmUpBothAsync(host);
        if (ending.Opened == 0)
        {
            // The stream opened on the second replica: move it to the first (the second rests, and ends its stream once).
            health.Failed("127.0.0.1", replicas.Second.Address.Port, "passed over by the test");
            other.EndNext();
            await Poll.UntilAsync(() => ending.Opened, opened => opened >= 1);
            clock.Advance(ReplicaHealth.Rest);
        }

        // The first replica ends the stream at its next heartbeat: the watcher is current again, on the second.
        await Poll.UntilAsync(() => ending.Ended, ended => ended >= 1);
        var current = await Poll.UntilAsync(() => host.Ledger.Watcher.IsCurrent, c => c);
        using var spend = await host.SpendAsync(100);

        Assert.Multiple(() =>
        {
            Assert.That(current, Is.True);
            Assert.That(spend.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(ending.Opened, Is.EqualTo(1), "the watcher did not go back to the replica that ended its stream");
            Assert.That(health.IsResting("127.0.0.1", replicas.First.Address.Port), Is.True);
            Assert.That(host.Logs.Logs.Select(l => l.Message), Has.Some.Contains($"replica at 127.0.0.1:{replicas.First.Address.Port} failed a call ({EndingStreamsInterceptor.Refusal})"));
        });
    }

    private static Action<Microsoft.AspNetCore.Builder.WebApplicationBuilder> Intercept(EndingStreams streams) => builder =>
    {
        builder.Services.AddSingleton(streams);
        builder.Services.Configure<Grpc.AspNetCore.Server.GrpcServiceOptions>(o => o.Interceptors.Add<EndingStreamsInterceptor>());
    };

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

    /// <summary>
    /// Today's settled spend once nothing is reserved, asked of <paramref name="replica"/> directly: the books, not the
    /// guard's admin client, whose calls are not retried on another replica.
    /// </summary>
    private static async Task<Usd> SettledAtAsync(BudgetServiceHost replica)
    {
        using var channel = Grpc.Net.Client.GrpcChannel.ForAddress(replica.Address);
        var admin = BudgetServiceHost.AdminClient(channel);
        var reply = await Poll.UntilAsync(
            async () => await admin.GetDailySpendAsync(new Protocol.DailySpendRequest { KeyId = KeyId }),
            spend => spend.ReservedMicroUsd == 0);
        return Usd.FromMicros(reply.SettledMicroUsd);
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

        public static async Task<Replicas> StartAsync(
            bool relayFirst = false,
            Action<Microsoft.AspNetCore.Builder.WebApplicationBuilder>? configureFirst = null,
            Action<Microsoft.AspNetCore.Builder.WebApplicationBuilder>? configureSecond = null)
        {
            var cluster = await PostgresCluster.SharedAsync();
            var database = await cluster.CreateDatabaseAsync();
            var relay = relayFirst ? TcpRelay.Start(cluster.Port) : null;
            var firstDatabase = relay is null ? database : new NpgsqlConnectionStringBuilder(database) { Port = relay.Port, Timeout = 5 }.ConnectionString;

            // One after the other: the second finds the schema the first applied.
            var second = await BudgetServiceHost.StartAsync(BudgetServiceHost.Key(KeyId, "100", vendor: TestVendorProfile.Name), configure: configureSecond, postgres: database);
            var first = await BudgetServiceHost.StartAsync(BudgetServiceHost.Key(KeyId, "100", vendor: TestVendorProfile.Name), configure: configureFirst, postgres: firstDatabase);
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

    /// <summary>How many key event streams a replica opened and ended, and whether it ends them (always, or once when told).</summary>
    private sealed class EndingStreams(bool always)
    {
        private int _opened;
        private int _ended;
        private int _endNext;

        public int Opened => Volatile.Read(ref _opened);

        public int Ended => Volatile.Read(ref _ended);

        public void Open() => Interlocked.Increment(ref _opened);

        public void End() => Interlocked.Increment(ref _ended);

        /// <summary>The next message of any of its streams ends that stream instead.</summary>
        public void EndNext() => Volatile.Write(ref _endNext, 1);

        /// <summary>Whether the stream ends instead of sending its message number <paramref name="written"/> (from 1).</summary>
        public bool EndsAt(int written) => (always && written > 1) || (written > 1 && Interlocked.Exchange(ref _endNext, 0) == 1);
    }

    /// <summary>
    /// A replica that can no longer promise to pass key events on: it sends the first message of a key event stream
    /// (the snapshot), then ends the stream with <c>Unavailable</c> instead of a later one, as <see cref="EndingStreams"/> says.
    /// </summary>
    private sealed class EndingStreamsInterceptor(EndingStreams streams) : Grpc.Core.Interceptors.Interceptor
    {
        public const string Refusal = "this replica cannot promise to pass key events on";

        public override async Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, Grpc.Core.IServerStreamWriter<TResponse> responseStream, Grpc.Core.ServerCallContext context, Grpc.Core.ServerStreamingServerMethod<TRequest, TResponse> continuation)
        {
            streams.Open();
            try
            {
                await continuation(request, new Ending<TResponse>(responseStream, streams), context);
            }
            finally
            {
                streams.End();
            }
        }

        private sealed class Ending<T>(Grpc.Core.IServerStreamWriter<T> inner, EndingStreams streams) : Grpc.Core.IServerStreamWriter<T>
        {
            private int _written;

            public Grpc.Core.WriteOptions? WriteOptions
            {
                get => inner.WriteOptions;
                set => inner.WriteOptions = value;
            }

            public Task WriteAsync(T message) => WriteAsync(message, CancellationToken.None);

            public Task WriteAsync(T message, CancellationToken cancellationToken) => streams.EndsAt(Interlocked.Increment(ref _written))
                ? throw new Grpc.Core.RpcException(new Grpc.Core.Status(Grpc.Core.StatusCode.Unavailable, Refusal))
                : inner.WriteAsync(message, cancellationToken);
        }
    }
}
