using Keybrake.BudgetService.Hosting;
using Keybrake.BudgetService.Store;
using Keybrake.Client.TestUtilities.Postgres;
using Npgsql;
using static Keybrake.BudgetService.Tests.Stores.StoreCalls;

namespace Keybrake.BudgetService.Tests.Stores;

/// <summary>
/// The store contract on PostgreSQL (a new database on the test run's server for each test), and what only a shared
/// database has to prove: replicas writing at once, replicas migrating at once, a schema from a newer service.
/// </summary>
public sealed class PostgresStoreContractTests : StoreContractTests
{
    private protected override async Task<StoreUnderTest> OpenFreshAsync() =>
        await StoreUnderTest.PostgreSql(await NewDatabaseAsync()).MigratedAsync();

    [Test]
    public async Task Two_replicas_with_64_callers_each_on_one_hot_key_never_pass_the_cap_and_the_counters_add_up()
    {
        var database = await NewDatabaseAsync();
        await using var replicaA = await StoreUnderTest.PostgreSql(database).MigratedAsync();
        await using var replicaB = await StoreUnderTest.PostgreSql(database).MigratedAsync();
        var replicas = new[] { replicaA.Budget, replicaB.Budget };

        // 128 callers, half on each replica, each making 4 calls on one key (half of the callers in one run): authorize,
        // then commit part of the estimate, release it, or leave it pending (as a call whose process died would).
        var results = await Task.WhenAll(Enumerable.Range(0, 128).Select(caller => Task.Run(async () =>
        {
            var store = replicas[caller % 2];
            var inRun = caller % 4 < 2;
            var random = new Random(caller);
            long committed = 0, pending = 0, allowed = 0;
            for (var call = 0; call < 4; call++)
            {
                var estimate = random.Next(50, 301) / 100m;
                var outcome = await store.AuthorizeAsync(
                    Authorize("hot", estimate, dailyCap: 150, runId: inRun ? "run-1" : null, runCap: 60), CancellationToken.None);
                if (!outcome.Allowed)
                {
                    Assert.That(outcome.Status, Is.AnyOf(AuthorizeStatus.DailyCapExceeded, AuthorizeStatus.RunCapExceeded));
                    continue;
                }

                allowed++;
                switch (random.Next(3))
                {
                    case 0:
                        var actual = decimal.Round(estimate * random.Next(0, 101) / 100, 6);
                        Assert.That((await store.SettleAsync(Commit(outcome.ReservationId!, actual), dailyCap: 150)).Status, Is.EqualTo(SettleStatus.Settled));
                        committed += Dollars(actual);
                        break;
                    case 1:
                        Assert.That((await store.SettleAsync(Release(outcome.ReservationId!), dailyCap: 150)).Status, Is.EqualTo(SettleStatus.Settled));
                        break;
                    default:
                        pending += Dollars(estimate);
                        break;
                }
            }

            return (inRun, committed, pending, allowed);
        })));

        var day = await replicaA.Budget.DayAsync("hot");
        var run = await replicaB.Budget.GetRunSpendAsync("hot", "run-1", CancellationToken.None);
        var unsettled = await replicaA.Budget.ListUnsettledAsync("hot", CancellationToken.None);
        Assert.Multiple(() =>
        {
            Assert.That(results.Sum(r => r.allowed), Is.GreaterThan(0));
            Assert.That(day.SettledMicroUsd, Is.EqualTo(results.Sum(r => r.committed)), "settled: exactly the committed costs");
            Assert.That(day.ReservedMicroUsd, Is.EqualTo(results.Sum(r => r.pending)), "reserved: exactly the estimates still pending");
            Assert.That(run.SettledMicroUsd, Is.EqualTo(results.Where(r => r.inRun).Sum(r => r.committed)));
            Assert.That(run.ReservedMicroUsd, Is.EqualTo(results.Where(r => r.inRun).Sum(r => r.pending)));
            Assert.That(day.SettledMicroUsd + day.ReservedMicroUsd, Is.LessThanOrEqualTo(Dollars(150)), "the daily cap held across both replicas");
            Assert.That(run.SettledMicroUsd + run.ReservedMicroUsd, Is.LessThanOrEqualTo(Dollars(60)), "the run cap held across both replicas");
            Assert.That(results.Sum(r => r.allowed), Is.LessThan(128 * 4), "the caps were reached");
            Assert.That(unsettled.Sum(r => r.EstimateMicroUsd), Is.EqualTo(day.ReservedMicroUsd));
        });
    }

    [Test]
    public async Task A_duty_claimed_by_two_replicas_at_once_has_exactly_one_winner_each_time()
    {
        var database = await NewDatabaseAsync();
        await using var replicaA = await StoreUnderTest.PostgreSql(database).MigratedAsync();
        await using var replicaB = await StoreUnderTest.PostgreSql(database).MigratedAsync();

        // 32 duties, each claimed by both replicas at the same moment (a fresh one, then one whose claim has expired).
        var rounds = await Task.WhenAll(Enumerable.Range(0, 32).Select(duty => Task.Run(async () =>
        {
            var name = "duty-" + duty.ToString(System.Globalization.CultureInfo.InvariantCulture);
            var fresh = await Task.WhenAll(
                Task.Run(() => replicaA.Budget.ClaimDutyAsync("sms", name, "replica-a", Noon, TimeSpan.FromSeconds(30), CancellationToken.None).AsTask()),
                Task.Run(() => replicaB.Budget.ClaimDutyAsync("sms", name, "replica-b", Noon, TimeSpan.FromSeconds(30), CancellationToken.None).AsTask()));
            var expired = await Task.WhenAll(
                Task.Run(() => replicaA.Budget.ClaimDutyAsync("sms", name, "replica-c", Noon.AddMinutes(1), TimeSpan.FromSeconds(30), CancellationToken.None).AsTask()),
                Task.Run(() => replicaB.Budget.ClaimDutyAsync("sms", name, "replica-d", Noon.AddMinutes(1), TimeSpan.FromSeconds(30), CancellationToken.None).AsTask()));
            return (Fresh: fresh, Expired: expired);
        })));

        Assert.Multiple(() =>
        {
            foreach (var (fresh, expired) in rounds)
            {
                // Both answers name the same holder: the one that won; the loser was told who holds it.
                Assert.That(fresh[0], Is.EqualTo(fresh[1]));
                Assert.That(fresh[0].Holder, Is.AnyOf("replica-a", "replica-b"));
                Assert.That(expired[0], Is.EqualTo(expired[1]));
                Assert.That(expired[0].Holder, Is.AnyOf("replica-c", "replica-d"));
                Assert.That(expired[0].ExpiresAt, Is.EqualTo(Noon.AddMinutes(1).AddSeconds(30)));
            }
        });
    }

    [Test]
    public async Task An_object_priced_by_two_replicas_at_once_settles_once()
    {
        var database = await NewDatabaseAsync();
        await using var replicaA = await StoreUnderTest.PostgreSql(database).MigratedAsync();
        await using var replicaB = await StoreUnderTest.PostgreSql(database).MigratedAsync();
        KeyCaps? Caps(string key) => new KeyCaps(Dollars(1000), null);
        var reservations = new List<string>();
        for (var i = 0; i < 32; i++)
        {
            var reserved = await replicaA.Budget.AuthorizeAsync(Authorize("sms", 1, dailyCap: 1000), CancellationToken.None);
            reservations.Add(reserved.ReservationId!);
        }

        var recorded = await replicaA.Budget.RecordDeferralsAsync(
            reservations.Select((id, i) => new DeferralCommand("sms", "twilio", "SM" + i.ToString(System.Globalization.CultureInfo.InvariantCulture), id, "refetch")).ToList(),
            "client-a", Noon, CancellationToken.None);

        // Each object's price reported by both replicas at once (both guards saw the message's price).
        var results = await Task.WhenAll(Enumerable.Range(0, 32).SelectMany(i => new[] { replicaA, replicaB }.Select(replica => Task.Run(async () =>
            (await replica.Budget.SettleObjectsAsync(
                [new ObjectSettleCommand("sms", "twilio", "SM" + i.ToString(System.Globalization.CultureInfo.InvariantCulture), true, Dollars(0.75m))],
                _ => true, Noon, Caps, CancellationToken.None))[0]))));

        var day = await replicaB.Budget.DayAsync("sms");
        var deferred = await replicaB.Budget.ListDeferredAsync("sms", "twilio", Noon, 100, CancellationToken.None);
        Assert.Multiple(() =>
        {
            Assert.That(recorded, Has.Count.EqualTo(32).And.All.True);
            Assert.That(results.Count(r => r.Status == SettleStatus.Settled), Is.EqualTo(32), "one settlement per object");
            Assert.That(results.Count(r => r.Status == SettleStatus.NotPending), Is.EqualTo(32), "the other replica found it settled");
            Assert.That((day.SettledMicroUsd, day.ReservedMicroUsd), Is.EqualTo((Dollars(24), 0L)), "each price counted once");
            Assert.That(deferred, Is.Empty);
        });
    }

    [Test]
    public async Task A_database_at_schema_version_1_upgrades_with_its_counters_and_records_overruns_after()
    {
        var database = await NewDatabaseAsync();
        await using (var first = await StoreUnderTest.PostgreSql(database).MigratedAsync())
        {
            var spent = await first.Budget.AuthorizeAsync(Authorize("agent", 8, dailyCap: 10), CancellationToken.None);
            await first.Budget.SettleAsync(Commit(spent.ReservationId!, 8), dailyCap: 10);
        }

        // Back to version 1: the counters as they were, without what migrations 2, 4 (the vault), 5 (alerts), 6 (leases) and 7 (LLM spend) added.
        await QueryAsync(database, "ALTER TABLE day_counter DROP COLUMN overrun; ALTER TABLE run_counter DROP COLUMN overrun; DROP TABLE deferred_object; DROP TABLE duty_claim; DROP TABLE key_secret; "
            + "ALTER TABLE api_key DROP COLUMN secret_version, DROP COLUMN secret_set_at, DROP COLUMN previous_secret_valid_until; DROP TABLE alert; DROP TABLE alert_delivery; "
            + "DROP TABLE lease; ALTER TABLE reservation DROP COLUMN lease_id; ALTER TABLE day_counter DROP COLUMN leased; ALTER TABLE run_counter DROP COLUMN leased; "
            + "DROP TABLE llm_spend; DROP TABLE llm_run_total; ALTER TABLE client_credential DROP COLUMN integrations; DELETE FROM schema_version WHERE version >= 2");
        await using var second = await StoreUnderTest.PostgreSql(database).MigratedAsync();
        var before = await second.Budget.DayAsync("agent");
        var more = await second.Budget.AuthorizeAsync(Authorize("agent", 2, dailyCap: 10), CancellationToken.None);
        var settled = await second.Budget.SettleAsync(Commit(more.ReservationId!, 5), dailyCap: 10);
        var after = await second.Budget.DayAsync("agent");

        Assert.Multiple(() =>
        {
            Assert.That(before, Is.EqualTo(new StoredSpend(Dollars(8), 0, 0)));
            Assert.That(settled.Overruns!.Select(o => o.AddedMicroUsd), Is.EqualTo(new[] { Dollars(3) }));
            Assert.That(after, Is.EqualTo(new StoredSpend(Dollars(13), 0, Dollars(3))), "recorded in the upgraded database");
        });
    }

    [Test]
    public async Task Two_replicas_migrating_a_fresh_database_at_once_both_start_and_each_migration_is_applied_once()
    {
        var database = await NewDatabaseAsync();
        await using var replicaA = StoreUnderTest.PostgreSql(database);
        await using var replicaB = StoreUnderTest.PostgreSql(database);

        await Task.WhenAll(
            Task.Run(() => replicaA.Budget.MigrateAsync(CancellationToken.None)),
            Task.Run(() => replicaB.Budget.MigrateAsync(CancellationToken.None)));
        var versions = await QueryAsync(database, "SELECT string_agg(version::text, ',' ORDER BY version) FROM schema_version");
        var reserved = await replicaB.Budget.AuthorizeAsync(Authorize("agent", 1, dailyCap: 10), CancellationToken.None);

        Assert.Multiple(() =>
        {
            Assert.That(versions, Is.EqualTo(string.Join(',', Enumerable.Range(1, Store.Postgres.PostgresSchema.Version))));
            Assert.That(reserved.Status, Is.EqualTo(AuthorizeStatus.Reserved));
        });
    }

    [Test]
    public async Task A_database_migrated_by_a_newer_service_refuses_to_start_in_one_line()
    {
        var database = await NewDatabaseAsync();
        await using (await StoreUnderTest.PostgreSql(database).MigratedAsync())
        {
        }

        await QueryAsync(database, $"INSERT INTO schema_version (version) VALUES ({Store.Postgres.PostgresSchema.Version + 1})");
        await using var older = StoreUnderTest.PostgreSql(database);

        var refused = Assert.ThrowsAsync<ServiceStartException>(async () => await older.Budget.MigrateAsync(CancellationToken.None));

        var builder = new NpgsqlConnectionStringBuilder(database);
        Assert.That(refused!.Message, Is.EqualTo(
            $"The PostgreSQL budget database 127.0.0.1:{builder.Port}/{builder.Database} cannot be used: the database is at schema version {Store.Postgres.PostgresSchema.Version + 1}, "
            + $"newer than this service knows ({Store.Postgres.PostgresSchema.Version}); run a newer service."));
    }

    [Test]
    public async Task A_wrong_password_fails_start_up_naming_the_database_and_never_the_password()
    {
        var cluster = await PostgresCluster.SharedAsync();
        var wrong = new NpgsqlConnectionStringBuilder(await NewDatabaseAsync()) { Password = "not-the-password-" + Guid.NewGuid().ToString("N") };
        await using var store = StoreUnderTest.PostgreSql(wrong.ConnectionString);

        var refused = Assert.ThrowsAsync<ServiceStartException>(async () => await store.Budget.MigrateAsync(CancellationToken.None));

        var everything = string.Join('\n', store.Logs.Logs.Select(log => log.Message + log.Exception)) + refused!.ToString();
        Assert.Multiple(() =>
        {
            Assert.That(refused.Message, Does.StartWith($"The PostgreSQL budget database 127.0.0.1:{cluster.Port}/{wrong.Database} cannot be used: ").And.Contain("password authentication failed"));
            Assert.That(refused.Message, Does.Not.Contain("\n"));
            Assert.That(everything, Does.Not.Contain(wrong.Password).And.Not.Contain(cluster.Password));
        });
    }

    private static async Task<string> NewDatabaseAsync() => await (await PostgresCluster.SharedAsync()).CreateDatabaseAsync();

    private static async Task<object?> QueryAsync(string database, string sql)
    {
        await using var connection = new NpgsqlConnection(database);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteScalarAsync();
    }
}
