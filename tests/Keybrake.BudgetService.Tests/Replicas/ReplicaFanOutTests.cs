using System.Net;
using Grpc.Core;
using Keybrake.Client.TestUtilities;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Protocol;
using Npgsql;
using static Keybrake.BudgetService.Tests.Calls;

namespace Keybrake.BudgetService.Tests.Replicas;

/// <summary>
/// Two replicas (service hosts of their own) on one PostgreSQL database: a change made through one reaches the key
/// event streams of the other (LISTEN/NOTIFY), once, and a change made while a replica did not listen is read back.
/// </summary>
public sealed class ReplicaFanOutTests
{
    private static readonly Dictionary<string, string?> s_keys = TestService.Settings(BudgetServiceHost.Key("a", "100"), BudgetServiceHost.Key("b", "100"));

    [Test]
    public async Task Revocation_policy_change_restoration_and_a_new_key_through_one_replica_reach_the_other_replicas_streams_once()
    {
        await using var a = await TestService.StartAsync(StoreEngine.PostgreSql, s_keys);
        await using var b = await Replica.AlongsideAsync(a, s_keys);
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var (streamB, eventsOnB) = Replica.Watch(b.Budget, cancel.Token);
        var (streamA, eventsOnA) = Replica.Watch(a.Budget, cancel.Token);
        using var watchB = streamB;
        using var watchA = streamA;
        await eventsOnB.NextAsync();
        await eventsOnA.NextAsync();

        await a.Admin.RevokeKeyAsync(new KeyActionRequest { KeyId = "a" });
        var revoked = await eventsOnB.NextAsync();
        await a.Admin.UpdateKeyPolicyAsync(new UpdateKeyPolicyRequest { KeyId = "a", Policy = new Policy { DailyCapMicroUsd = Dollars(5) } });
        var changed = await eventsOnB.NextAsync();
        await a.Admin.RestoreKeyAsync(new KeyActionRequest { KeyId = "a" });
        var restored = await eventsOnB.NextAsync();
        await a.Admin.CreateKeyAsync(new CreateKeyRequest { KeyId = "c", Vendor = "stripe", Policy = new Policy { DailyCapMicroUsd = Dollars(7) } });
        var created = await eventsOnB.NextAsync();

        // What B now holds in memory follows: the new key is known, with its cap, and a's new cap is in force.
        var onNewKey = await b.Budget.AuthorizeAsync(Authorize("c", 8));
        var overNewCap = await b.Budget.AuthorizeAsync(Authorize("a", 6));

        // A announced each of its own changes once, its own notifications of them heard as well: a last change (b
        // revoked) closes the list, so anything doubled would show before it.
        await a.Admin.RevokeKeyAsync(new KeyActionRequest { KeyId = "b" });
        var onA = new List<(KeyEventKind, string)>();
        while (onA.Count == 0 || onA[^1] != (KeyEventKind.Revoked, "b"))
        {
            var next = await eventsOnA.NextAsync();
            onA.Add((next.Kind, next.Keys.Single().KeyId));
        }

        Assert.Multiple(() =>
        {
            Assert.That((revoked.Kind, revoked.Keys.Single().KeyId, revoked.Keys.Single().Revoked), Is.EqualTo((KeyEventKind.Revoked, "a", true)));
            Assert.That((changed.Kind, changed.Keys.Single().PolicyVersion, changed.Keys.Single().Revoked), Is.EqualTo((KeyEventKind.PolicyChanged, 2L, true)));
            Assert.That((restored.Kind, restored.Keys.Single().Revoked), Is.EqualTo((KeyEventKind.Restored, false)));
            Assert.That((created.Kind, created.Keys.Single().KeyId, created.Keys.Single().Known), Is.EqualTo((KeyEventKind.Created, "c", true)));
            Assert.That((onNewKey.Allowed, onNewKey.Reason), Is.EqualTo((false, "daily_cap_exceeded")), "B knows key c and its $7 cap");
            Assert.That((overNewCap.Allowed, overNewCap.Reason), Is.EqualTo((false, "daily_cap_exceeded")), "B holds a's new $5 cap");
            Assert.That(onA, Is.EqualTo(new[]
            {
                (KeyEventKind.Revoked, "a"), (KeyEventKind.PolicyChanged, "a"), (KeyEventKind.Restored, "a"), (KeyEventKind.Created, "c"), (KeyEventKind.Revoked, "b"),
            }));
        });

        await cancel.CancelAsync();
    }

    [Test]
    public async Task A_credential_issued_and_revoked_through_one_replica_is_accepted_and_then_refused_by_the_other_and_its_streams_there_are_told()
    {
        await using var a = await TestService.StartAsync(StoreEngine.PostgreSql, s_keys);
        await using var b = await Replica.AlongsideAsync(a, s_keys);
        var (_, token) = await a.ClientForAsync("fleet-1", "a");
        var fleetOnB = BudgetServiceHost.BudgetClient(b.Channel, token);

        // Issued through A: B accepts it once it heard of it.
        var accepted = await Poll.UntilAsync<string?>(
            async () =>
            {
                try
                {
                    return (await fleetOnB.GetKeyPolicyAsync(new GetKeyPolicyRequest { KeyId = "a" })).KeyId;
                }
                catch (RpcException exception) when (exception.StatusCode == StatusCode.Unauthenticated)
                {
                    return null;
                }
            },
            keyId => keyId is not null);

        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var (call, events) = Replica.Watch(fleetOnB, cancel.Token);
        using var watch = call;
        var snapshot = await events.NextAsync();

        var revocation = await a.Admin.RevokeClientAsync(new ClientActionRequest { ClientId = "fleet-1" });
        var told = await events.NextAsync();
        var confirmed = await fleetOnB.AcknowledgeKeyEventsAsync(new AcknowledgeKeyEventsRequest { SubscriberId = snapshot.SubscriberId, Sequence = told.Sequence });
        var ended = Assert.ThrowsAsync<RpcException>(async () => await events.MoveNextAsync());
        var refused = Assert.ThrowsAsync<RpcException>(async () => await fleetOnB.AuthorizeAsync(Authorize("a", 1)));

        Assert.Multiple(() =>
        {
            Assert.That(accepted, Is.EqualTo("a"));
            Assert.That(revocation.Delivery.Processes, Is.Zero, "A counts its own streams only: the credential had none there");
            Assert.That((told.Kind, told.ClientId), Is.EqualTo((KeyEventKind.ClientRevoked, "fleet-1")));
            Assert.That(confirmed.Known, Is.True, "B's stream may confirm the revocation it was told of");
            Assert.That(ended!.StatusCode, Is.EqualTo(StatusCode.Unauthenticated), "B ends the revoked credential's stream");
            Assert.That(refused!.StatusCode, Is.EqualTo(StatusCode.Unauthenticated));
        });
    }

    [Test]
    public async Task Changes_committed_while_a_replica_does_not_listen_are_read_back_when_it_listens_again_and_meanwhile_its_streams_end_unavailable()
    {
        await using var a = await TestService.StartAsync(StoreEngine.PostgreSql, s_keys);
        await using var b = await Replica.AlongsideAsync(a, s_keys);
        var (_, token) = await a.ClientForAsync("fleet-2", "a", "b");
        var fleetOnB = BudgetServiceHost.BudgetClient(b.Channel, token);
        await Poll.UntilAsync(async () => await TryAsync(() => fleetOnB.GetKeyPolicyAsync(new GetKeyPolicyRequest { KeyId = "a" }).ResponseAsync), status => status == StatusCode.OK);
        using var http = new HttpClient { BaseAddress = b.Host.RestAddress };
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        var (call, events) = Replica.Watch(b.Budget, cancel.Token);
        using var watch = call;
        await events.NextAsync();
        var database = new NpgsqlConnectionStringBuilder(a.Postgres).Database!;

        // The fault, on purpose: no new session may open on the database, and B's LISTEN session is ended. While B
        // cannot listen again, a change is committed as another replica would commit it (in one transaction, with its
        // notification), which B cannot hear.
        await using var server = new NpgsqlConnection(await Replica.ServerAsync());
        await server.OpenAsync();
        await using var writer = new NpgsqlConnection(a.Postgres);
        await writer.OpenAsync();
        await Execute(server, $"ALTER DATABASE {database} WITH ALLOW_CONNECTIONS false");
        var ended = (bool?)await Scalar(server, $"SELECT pg_terminate_backend(pid, 30000) FROM pg_stat_activity WHERE application_name = '{Replica.ListenerName(b)}'");
        var streamEnded = Assert.ThrowsAsync<RpcException>(async () => await events.MoveNextAsync());
        var refusedStream = Assert.ThrowsAsync<RpcException>(async () =>
        {
            using var late = b.Budget.WatchKeys(new WatchKeysRequest(), cancellationToken: cancel.Token);
            await late.ResponseStream.MoveNext(cancel.Token);
        });
        using var notReady = await http.GetAsync("/readyz");
        await Execute(writer,
            """
            BEGIN;
            UPDATE api_key SET policy = (SELECT policy FROM api_key WHERE key_id = 'b'), policy_version = policy_version + 1 WHERE key_id = 'a';
            UPDATE key_state SET revoked = true WHERE key_id = 'b';
            UPDATE client_credential SET revoked_at = 1 WHERE client_id = 'fleet-2';
            SELECT pg_notify('keybrake_changes', 'k:a'), pg_notify('keybrake_changes', 'k:b'), pg_notify('keybrake_changes', 'c:fleet-2');
            COMMIT;
            """);
        await Execute(server, $"ALTER DATABASE {database} WITH ALLOW_CONNECTIONS true");

        // B listens again (it retries with a growing pause), reads everything back, and is ready.
        var ready = await Poll.UntilAsync(
            async () =>
            {
                using var response = await http.GetAsync("/readyz");
                return response.StatusCode;
            },
            status => status == HttpStatusCode.OK);
        var (again, eventsAgain) = Replica.Watch(b.Budget, cancel.Token, "a", "b");
        using var watchAgain = again;
        var snapshot = await eventsAgain.NextAsync();
        var fleetRefused = await TryAsync(() => fleetOnB.GetKeyPolicyAsync(new GetKeyPolicyRequest { KeyId = "a" }).ResponseAsync);

        Assert.Multiple(() =>
        {
            Assert.That(ended, Is.True, "B's LISTEN session was found by its application_name and ended");
            Assert.That(streamEnded!.StatusCode, Is.EqualTo(StatusCode.Unavailable), "a stream B can no longer keep complete ends, so its process moves on");
            Assert.That(refusedStream!.StatusCode, Is.EqualTo(StatusCode.Unavailable), "and no new one starts");
            Assert.That(notReady.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
            Assert.That(ready, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(snapshot.Keys.Select(k => (k.KeyId, k.Revoked, k.PolicyVersion)), Is.EqualTo(new[] { ("a", false, 2L), ("b", true, 1L) }),
                "the policy version B holds in memory was read back");
            Assert.That(fleetRefused, Is.EqualTo(StatusCode.Unauthenticated), "the credential revoked meanwhile is refused");
        });

        await cancel.CancelAsync();
    }

    private static async Task<StatusCode> TryAsync<T>(Func<Task<T>> call)
    {
        try
        {
            await call();
            return StatusCode.OK;
        }
        catch (RpcException exception)
        {
            return exception.StatusCode;
        }
    }

    private static async Task Execute(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    private static async Task<object?> Scalar(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteScalarAsync();
    }
}
