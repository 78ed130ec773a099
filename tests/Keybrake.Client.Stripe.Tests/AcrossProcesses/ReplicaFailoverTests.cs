using System.Text.Json;
using Keybrake.Client.TestUtilities;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Client.TestUtilities.Postgres;
using Keybrake.Client.TestUtilities.Stripe;
using static Keybrake.Client.Stripe.Tests.SharedCapAcrossProcessesTests;

namespace Keybrake.Client.Stripe.Tests;

/// <summary>
/// Two replicas of the budget service, each its own process, on one real PostgreSQL database, and four agent
/// processes of sixteen tasks charging one key through the real Stripe.net client, with both replicas in their
/// address list. One replica is killed mid-run, or PostgreSQL itself is restarted mid-run: the cap holds, nothing
/// reaches Stripe without a committed reservation, every audit record arrives once, and every agent finishes.
/// </summary>
[NonParallelizable]
public sealed class ReplicaFailoverTests
{
    private const int Agents = 4;
    private const int TasksPerAgent = 16;
    private const int ChargesBeforeTheFault = 10;

    [Test]
    public async Task A_replica_killed_mid_run_leaves_every_agent_to_finish_through_the_other_with_nothing_overspent_lost_or_doubled()
    {
        using var stub = StripeStub.Start();
        var cluster = await PostgresCluster.SharedAsync();
        var database = await cluster.CreateDatabaseAsync();
        await using var run = await ReplicaRun.StartAsync(database);
        var agents = await run.StartAgentsAsync(stub, "failover-agent");

        var chargesBeforeKill = await Poll.UntilAsync(() => Charges(stub).Count, count => count >= ChargesBeforeTheFault);
        await run.First.KillAsync();
        var reports = await Task.WhenAll(agents.Select(a => a.FinishAsync()));

        var books = await Books.ReadAsync(run, stub, database, reports);
        Assert.Multiple(() =>
        {
            Assert.That(chargesBeforeKill, Is.GreaterThanOrEqualTo(ChargesBeforeTheFault), "the run was under way when the replica was killed");
            Assert.That(run.First.IsRunning, Is.False, "the first replica is dead");
            Assert.That(reports.SelectMany(r => r.Denied.Keys).Distinct(), Is.EquivalentTo(new[] { ReasonCodes.DailyCapExceeded }), "no call failed closed: the other replica answered");
            Assert.That(reports.Sum(r => r.DeniedFor(ReasonCodes.DailyCapExceeded)), Is.EqualTo(Agents * TasksPerAgent), "every task ran on to the cap through the other replica");
            Assert.That(reports.SelectMany(r => r.Errors.Keys), Is.Empty);
            books.AssertNothingOverspentLostOrDoubled(reports);
            Assert.That(agents.Select(a => OutboxRecords(a.OutboxPath)), Is.All.Zero, "every agent shipped its outbox before it exited");
        });
    }

    [Test]
    public async Task A_restart_of_postgresql_mid_run_fails_money_calls_closed_while_it_is_down_and_everything_resumes_after()
    {
        using var stub = StripeStub.Start();

        // A cluster of its own: this test stops the server, which the assembly's other tests must not see.
        await using var cluster = await PostgresCluster.StartAsync(CancellationToken.None);
        var database = await cluster.CreateDatabaseAsync();
        await using var run = await ReplicaRun.StartAsync(database);
        var agents = await run.StartAgentsAsync(stub, "pg-restart-agent");

        var chargesBeforeStop = await Poll.UntilAsync(() => Charges(stub).Count, count => count >= ChargesBeforeTheFault);
        var reservedBeforeStop = (await BudgetStoreDatabase.ReadReservationsAsync(database)).Count;
        var stoppedAt = DateTime.UtcNow;
        await cluster.StopServerAsync();

        // Down until calls are seen failing closed, in several agents: a state, not a length of time.
        var failedClosed = await Poll.UntilAsync(
            () => agents.Count(a => a.WaitingInOutbox(ReasonCodes.BudgetServiceUnavailable) > 0),
            count => count >= 2);
        var chargesWhileDown = Charges(stub).Where(c => c.ReceivedAt > stoppedAt).ToList();
        var restartAt = DateTime.UtcNow;
        await cluster.StartServerAsync();
        var reports = await Task.WhenAll(agents.Select(a => a.FinishAsync()));

        var books = await Books.ReadAsync(run, stub, database, reports);
        var chargesInTheOutage = Charges(stub).Where(c => c.ReceivedAt > stoppedAt && c.ReceivedAt < restartAt).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(chargesBeforeStop, Is.GreaterThanOrEqualTo(ChargesBeforeTheFault), "the run was under way when PostgreSQL stopped");
            Assert.That(reservedBeforeStop, Is.Positive);
            Assert.That(failedClosed, Is.GreaterThanOrEqualTo(2));
            Assert.That(reports.Sum(r => r.DeniedFor(ReasonCodes.BudgetServiceUnavailable)), Is.Positive, "money calls were denied, fail-closed, while the database was down");
            Assert.That(reports.SelectMany(r => r.Denied.Keys).Distinct(), Is.SubsetOf(new[] { ReasonCodes.BudgetServiceUnavailable, ReasonCodes.DailyCapExceeded }));
            Assert.That(reports.Sum(r => r.DeniedFor(ReasonCodes.DailyCapExceeded)), Is.EqualTo(Agents * TasksPerAgent), "after the restart every task ran on to the cap");
            Assert.That(reports.SelectMany(r => r.Errors.Keys), Is.Empty);

            // While the database was down, Stripe saw only calls reserved before it stopped (still in flight then).
            Assert.That(
                chargesInTheOutage.Select(c => c.IdempotencyKey),
                Is.All.Matches<string?>(key => key is not null && books.Reservations.TryGetValue(key, out var r) && r.CreatedAt.UtcDateTime <= stoppedAt),
                "nothing new reached Stripe while the database was down");
            Assert.That(chargesWhileDown, Has.Count.LessThanOrEqualTo(Agents * TasksPerAgent), "at most the calls in flight when it stopped");
            books.AssertNothingOverspentLostOrDoubled(reports);
            Assert.That(books.Audit.Count(r => r.Reason == ReasonCodes.BudgetServiceUnavailable), Is.EqualTo(reports.Sum(r => r.DeniedFor(ReasonCodes.BudgetServiceUnavailable))));
            Assert.That(agents.Select(a => OutboxRecords(a.OutboxPath)), Is.All.Zero, "every agent shipped its outbox before it exited");
        });
    }

    /// <summary>The charges the Stripe stand-in received, with their idempotency keys and when they arrived (UTC).</summary>
    private static List<(string? IdempotencyKey, DateTime ReceivedAt)> Charges(StripeStub stub) =>
        stub.Server.LogEntries
            .Where(e => e.RequestMessage.Method == "POST" && e.RequestMessage.Path == "/v1/charges")
            .Select(e => (
                e.RequestMessage.Headers?.FirstOrDefault(h => string.Equals(h.Key, "Idempotency-Key", StringComparison.OrdinalIgnoreCase)).Value?.FirstOrDefault(),
                e.RequestMessage.DateTime))
            .ToList();

    /// <summary>Two replica processes on one database, and the agents that charge through them.</summary>
    private sealed class ReplicaRun : IAsyncDisposable
    {
        private readonly List<AgentProcess> _agents = [];
        private readonly string _folder;

        private ReplicaRun(BudgetServiceProcess first, BudgetServiceProcess second, string folder)
        {
            First = first;
            Second = second;
            _folder = folder;
        }

        public BudgetServiceProcess First { get; }

        public BudgetServiceProcess Second { get; }

        public static async Task<ReplicaRun> StartAsync(string database)
        {
            var settings = BudgetServiceHost.Key(KeyId, "100");
            settings["BudgetService:Store"] = "PostgreSQL";
            settings["ConnectionStrings:Keybrake"] = database;

            // One after the other: the second finds the schema the first applied.
            var first = await BudgetServiceProcess.StartAsync(settings);
            try
            {
                var second = await BudgetServiceProcess.StartAsync(settings);
                return new ReplicaRun(first, second, Directory.CreateTempSubdirectory("keybrake-failover-agents-").FullName);
            }
            catch
            {
                await first.DisposeAsync();
                throw;
            }
        }

        /// <summary>Starts the agents, both replicas in their address list, and lets them charge together.</summary>
        public Task<AgentProcess[]> StartAgentsAsync(StripeStub stub, string prefix) =>
            AgentProcess.StartTogetherAsync(
                Enumerable.Range(0, Agents).Select(i => (Func<Task<AgentProcess>>)(() => AgentProcess.StartOnReplicasAsync(
                    [First.Address, Second.Address], stub.Url, KeyId, _folder, $"{prefix}{i}", seed: i,
                    "--tasks", $"{TasksPerAgent}", "--charges", "until-denied", "--stop-on", ReasonCodes.DailyCapExceeded,
                    "--pause-after-denial-ms", "200", "--min-cents", "50", "--max-cents", "60",

                    // Room for a retry on the other replica after a whole attempt's deadline (5 s here, for a loaded
                    // machine): an attempt that met the dying replica, or a replica slowed by the others' load, must
                    // not use up the call's whole budget, as it would with a total equal to one attempt.
                    "--total-timeout-ms", "12000"))),
                _agents);

        public async ValueTask DisposeAsync()
        {
            await Task.WhenAll(_agents.Select(a => a.DisposeAsync().AsTask()));
            await First.DisposeAsync();
            await Second.DisposeAsync();
            try
            {
                Directory.Delete(_folder, recursive: true);
            }
            catch (IOException)
            {
                // a file still held open: the temp folder is cleaned by the system
            }
        }
    }

    /// <summary>What the service's books and the Stripe stand-in hold once the agents are done.</summary>
    private sealed record Books(
        SpendReport Spend,
        IReadOnlyList<UnsettledReservation> Unsettled,
        Dictionary<string, StoredReservationRow> Reservations,
        IReadOnlyList<StoredAudit> Audit,
        List<(string? IdempotencyKey, DateTime ReceivedAt)> Charges,
        long StripeCents,
        int Calls)
    {
        public static async Task<Books> ReadAsync(ReplicaRun run, StripeStub stub, string database, AgentReport[] reports)
        {
            // Asked through the replica still running (the first may be dead).
            await using var host = CentralStripeHost.Start(run.Second.Address, stub.Url, KeyId);
            var spend = await host.Admin.GetDailySpendAsync(KeyId);
            var unsettled = await host.Admin.ListUnsettledAsync(KeyId);
            var calls = reports.Sum(r => r.WarmUps + r.Calls);
            var audit = await Poll.UntilAsync(() => BudgetStoreDatabase.ReadAuditAsync(database), records => records.Count >= calls);
            var reservations = (await BudgetStoreDatabase.ReadReservationsAsync(database)).ToDictionary(r => r.IdempotencyKey, StringComparer.Ordinal);
            return new Books(spend, unsettled, reservations, audit, ReplicaFailoverTests.Charges(stub), stub.SumOfAmounts("/v1/charges"), calls);
        }

        public void AssertNothingOverspentLostOrDoubled(AgentReport[] reports)
        {
            // No overspend: neither at Stripe nor in the books.
            Assert.That(StripeCents, Is.LessThanOrEqualTo(100_00), "Stripe charged no more than the cap");
            Assert.That(Spend.Committed, Is.LessThanOrEqualTo(Usd.FromDollars(100)));
            Assert.That(Spend.Settled, Is.EqualTo(Usd.FromCents(StripeCents)), "what settled is exactly what reached Stripe");

            // Nothing reached Stripe without a committed reservation, and nothing was reserved twice for one call.
            Assert.That(Charges.Select(c => c.IdempotencyKey), Is.All.Matches<string?>(key => key is not null && Reservations.TryGetValue(key, out var r) && r.State == "committed"));
            Assert.That(Charges.Select(c => c.IdempotencyKey).Distinct().Count(), Is.EqualTo(Charges.Count), "no charge was sent twice");
            Assert.That(reports.Sum(r => r.Allowed), Is.EqualTo(Charges.Count));
            Assert.That(Spend.Reserved, Is.EqualTo(Usd.FromMicros(Unsettled.Sum(u => u.Estimate.Micros))));
            Assert.That(Unsettled.Select(u => u.IdempotencyKey), Has.None.AnyOf(Charges.Select(c => c.IdempotencyKey).ToArray()), "what stays pending never reached Stripe");

            // Every call's audit record arrived, once, whichever replica took it.
            var allowedReservations = Audit.Where(r => r.Decision == "allow" && r.RunId is not null).Select(ReservationOf).ToList();
            Assert.That(allowedReservations, Is.All.Matches<string?>(id => id is not null && Reservations.Values.Any(r => r.ReservationId == id)), "no call was allowed on anything but a service reservation");
            Assert.That(Audit.Select(r => r.RecordId).Distinct().Count(), Is.EqualTo(Audit.Count));
            Assert.That(Audit, Has.Count.EqualTo(Calls), "one audit record per call: none lost, none twice");
            Assert.That(Audit.Count(r => r.Decision == "allow" && r.RunId is not null), Is.EqualTo(reports.Sum(r => r.Allowed)));
        }

        private static string? ReservationOf(StoredAudit record)
        {
            using var json = JsonDocument.Parse(record.Json);
            return json.RootElement.TryGetProperty("reservationId", out var id) ? id.GetString() : null;
        }
    }
}
