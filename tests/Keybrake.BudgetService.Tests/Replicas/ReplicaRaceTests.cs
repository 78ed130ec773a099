using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Protocol;
using Npgsql;
using static Keybrake.BudgetService.Tests.Calls;

namespace Keybrake.BudgetService.Tests.Replicas;

/// <summary>Races between replicas on one PostgreSQL database, made to happen on purpose.</summary>
public sealed class ReplicaRaceTests
{
    [Test]
    public async Task Two_replicas_starting_at_once_with_a_changed_configuration_both_start_and_agree_on_the_key()
    {
        await using var earlier = await TestService.StartAsync(StoreEngine.PostgreSql, BudgetServiceHost.Key("agent", "100"));
        var database = earlier.Postgres;
        await earlier.StopAsync();

        // The operator raised the cap in the configuration and redeploys both replicas together.
        var replicas = await Task.WhenAll(
            TestService.StartAsync(StoreEngine.PostgreSql, BudgetServiceHost.Key("agent", "200"), postgres: database),
            TestService.StartAsync(StoreEngine.PostgreSql, BudgetServiceHost.Key("agent", "200"), postgres: database));
        try
        {
            var held = await Task.WhenAll(replicas.Select(async replica => (await replica.Budget.GetKeyPolicyAsync(new GetKeyPolicyRequest { KeyId = "agent" })).Version));
            var stored = await ScalarAsync(database!, "SELECT policy_version FROM api_key WHERE key_id = 'agent'");

            Assert.Multiple(() =>
            {
                Assert.That(stored, Is.EqualTo(2L), "the configuration's change counts once, however many replicas import it");
                Assert.That(held, Is.EqualTo(new[] { 2L, 2L }), "both replicas hold the version the store has");
            });
        }
        finally
        {
            foreach (var replica in replicas)
            {
                await replica.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// Callers on replica B keep one hot key's day counter busy (each call waits for the one before it) while the key is
    /// revoked through replica A. Once the revocation has returned, the key's reservations are counted: none may
    /// appear after that count. A call that read the key as not revoked before the revocation committed, then waited for
    /// the counter, would commit after it. Several rounds, one key each.
    /// </summary>
    [Test]
    public async Task No_reservation_commits_after_a_revocation_through_another_replica_has_returned()
    {
        const int Rounds = 4;
        const int Callers = 16;
        var keys = Enumerable.Range(0, Rounds).Select(round => $"hot-{round}").ToList();
        var settings = TestService.Settings([.. keys.Select(key => BudgetServiceHost.Key(key, "1000000"))]);
        await using var a = await TestService.StartAsync(StoreEngine.PostgreSql, settings);
        await using var b = await Replica.AlongsideAsync(a, settings);

        var counts = new List<(string Key, long AtRevocation, long After)>();
        foreach (var key in keys)
        {
            var callers = Enumerable.Range(0, Callers).Select(_ => Task.Run(async () =>
            {
                while (true)
                {
                    var reply = await b.Budget.AuthorizeAsync(Authorize(key, 0.01m));
                    if (!reply.Allowed)
                    {
                        return reply.Reason;
                    }
                }
            })).ToList();

            await Client.TestUtilities.Poll.UntilAsync(() => ScalarAsync(a.Postgres!, $"SELECT count(*) FROM reservation WHERE key_id = '{key}'"), count => (long)count! >= Callers * 2);
            await a.Admin.RevokeKeyAsync(new KeyActionRequest { KeyId = key });
            var atRevocation = (long)(await ScalarAsync(a.Postgres!, $"SELECT count(*) FROM reservation WHERE key_id = '{key}'"))!;
            var reasons = await Task.WhenAll(callers);
            var after = (long)(await ScalarAsync(a.Postgres!, $"SELECT count(*) FROM reservation WHERE key_id = '{key}'"))!;
            Assert.That(reasons, Is.All.EqualTo("key_revoked"));
            counts.Add((key, atRevocation, after));
        }

        Assert.That(counts.Where(count => count.After != count.AtRevocation), Is.Empty, "reservations that committed after their key's revocation returned");
    }

    private static async Task<object?> ScalarAsync(string database, string sql)
    {
        await using var connection = new NpgsqlConnection(database);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteScalarAsync();
    }
}
