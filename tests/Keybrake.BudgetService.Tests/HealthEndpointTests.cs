using System.Net;
using Keybrake.BudgetService.Store.Sqlite;
using Keybrake.Client.TestUtilities;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Client.TestUtilities.Postgres;
using Npgsql;

namespace Keybrake.BudgetService.Tests;

/// <summary>/healthz and /readyz: open to a load balancer without a token, and nothing else is. Runs on both store engines.</summary>
[TestFixture(StoreEngine.Sqlite)]
[TestFixture(StoreEngine.PostgreSql)]
public sealed class HealthEndpointTests(StoreEngine engine)
{
    [Test]
    public async Task Live_and_ready_answer_without_a_token_and_say_nothing_but_healthy()
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "1000000"));
        using var http = new HttpClient { BaseAddress = service.Host.RestAddress };

        using var live = await http.GetAsync("/healthz");
        using var ready = await http.GetAsync("/readyz");
        using var head = await http.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/readyz"));

        Assert.Multiple(async () =>
        {
            Assert.That(live.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(await live.Content.ReadAsStringAsync(), Is.EqualTo("Healthy"));
            Assert.That(ready.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(await ready.Content.ReadAsStringAsync(), Is.EqualTo("Healthy"));
            Assert.That(head.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        });
    }

    [Test]
    public async Task Only_reads_of_the_health_paths_skip_the_admin_token()
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "1000000"));
        using var http = new HttpClient { BaseAddress = service.Host.RestAddress };

        using var posted = await http.PostAsync("/healthz", new StringContent("{}"));
        using var keys = await http.GetAsync("/v1/keys");

        Assert.Multiple(() =>
        {
            Assert.That(posted.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
            Assert.That(keys.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        });
    }

    [Test]
    public async Task A_store_that_does_not_answer_makes_the_replica_not_ready_while_it_stays_live()
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "1000000"));
        using var http = new HttpClient { BaseAddress = service.Host.RestAddress };
        using var before = await http.GetAsync("/readyz");

        // The fault, on purpose: SQLite's connection is closed under the running service; the PostgreSQL database
        // refuses new sessions and its open ones end, as when its server goes away.
        if (service.Postgres is { } postgres)
        {
            var database = new NpgsqlConnectionStringBuilder(postgres).Database!;
            await ServerAsync($"ALTER DATABASE {database} WITH ALLOW_CONNECTIONS false; SELECT pg_terminate_backend(pid, 30000) FROM pg_stat_activity WHERE datname = '{database}'");
        }
        else
        {
            await ((SqliteBudgetStore)service.Store).DisposeAsync();
        }

        using var ready = await http.GetAsync("/readyz");
        using var live = await http.GetAsync("/healthz");
        if (service.Postgres is { } back)
        {
            await ServerAsync($"ALTER DATABASE {new NpgsqlConnectionStringBuilder(back).Database} WITH ALLOW_CONNECTIONS true");
        }

        // Ready again once the database answers and, on PostgreSQL, the replica listens for the others' changes again
        // (it reconnects with a growing pause): waited for, not assumed.
        var readyAgain = await Poll.UntilAsync(
            async () =>
            {
                using var response = await http.GetAsync("/readyz");
                return response.StatusCode;
            },
            status => status == HttpStatusCode.OK || engine == StoreEngine.Sqlite);

        Assert.Multiple(async () =>
        {
            Assert.That(before.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(ready.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
            Assert.That(await ready.Content.ReadAsStringAsync(), Is.EqualTo("Unhealthy"));
            Assert.That(live.StatusCode, Is.EqualTo(HttpStatusCode.OK), "the process still serves: only readiness depends on the store");
            if (engine == StoreEngine.PostgreSql)
            {
                Assert.That(readyAgain, Is.EqualTo(HttpStatusCode.OK), "ready again once the database answers");
            }
        });
    }

    /// <summary>A statement on the test run's PostgreSQL server, as its administrator.</summary>
    private static async Task ServerAsync(string sql)
    {
        await using var connection = new NpgsqlConnection((await PostgresCluster.SharedAsync()).ConnectionString());
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}
