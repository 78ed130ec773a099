using Keybrake.Client.TestUtilities;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Client.TestUtilities.Stripe;

namespace Keybrake.Client.Stripe.Tests;

/// <summary>
/// Four agent processes of sixteen concurrent tasks each charge one key until the budget service denies them: the
/// service's $100 cap holds across processes, and what settled is exactly what reached Stripe. Each round has a
/// fresh service (fresh data) and fresh Stripe stand-in, and different amounts.
/// </summary>
[NonParallelizable]
public sealed class SharedCapAcrossProcessesTests
{
    public const string KeyId = "shared-agent";
    private const int Rounds = 5;
    private const int Agents = 4;
    private const int TasksPerAgent = 16;

    [Test]
    public async Task Four_agent_processes_never_push_settled_spend_past_the_service_s_cap([Range(0, Rounds - 1)] int round)
    {
        using var stub = StripeStub.Start();
        await using var service = await BudgetServiceHost.StartAsync(BudgetServiceHost.Key(KeyId, "100"));
        await using var host = CentralStripeHost.Start(service.Address, stub.Url, KeyId);
        var running = new List<AgentProcess>();
        try
        {
            var agents = await AgentProcess.StartTogetherAsync(
                Enumerable.Range(0, Agents).Select(i => (Func<Task<AgentProcess>>)(() => AgentProcess.StartAsync(
                    service.Address, stub.Url, KeyId, service.Directory, $"round{round}-agent{i}", seed: (round * Agents) + i,
                    "--tasks", $"{TasksPerAgent}", "--charges", "until-denied", "--min-cents", "50", "--max-cents", "150"))),
                running);
            var reports = await Task.WhenAll(agents.Select(a => a.FinishAsync()));

            var spend = await host.Admin.GetDailySpendAsync(KeyId);
            var charges = stub.Received.Where(r => r is { Method: "POST", Path: "/v1/charges" }).ToList();
            var calls = reports.Sum(r => r.WarmUps + r.Calls);
            var audit = await Poll.UntilAsync(() => BudgetStoreFile.ReadAudit(service.StoragePath), records => records.Count >= calls);
            Assert.Multiple(() =>
            {
                Assert.That(spend.Settled, Is.LessThanOrEqualTo(Usd.FromDollars(100)), "the cap holds across processes");
                Assert.That(spend.Settled, Is.EqualTo(Usd.FromCents(stub.SumOfAmounts("/v1/charges"))), "what settled is exactly what reached Stripe");
                Assert.That(spend.Reserved, Is.EqualTo(Usd.Zero), "every settlement reached the service");
                Assert.That(reports.Sum(r => r.AllowedCents), Is.EqualTo(stub.SumOfAmounts("/v1/charges")));
                Assert.That(reports.Sum(r => r.Allowed), Is.EqualTo(charges.Count));
                Assert.That(reports.SelectMany(r => r.Denied.Keys).Distinct(), Is.EqualTo(new[] { ReasonCodes.DailyCapExceeded }));
                Assert.That(reports.Sum(r => r.DeniedFor(ReasonCodes.DailyCapExceeded)), Is.EqualTo(Agents * TasksPerAgent), "every task ran until the cap stopped it");
                Assert.That(reports.SelectMany(r => r.Errors.Keys), Is.Empty);
                Assert.That(audit.Select(r => r.RecordId).Distinct().Count(), Is.EqualTo(audit.Count));
                Assert.That(audit, Has.Count.EqualTo(calls), "one audit record per call: none lost, none twice");
                Assert.That(audit.Count(r => r.RunId is null), Is.EqualTo(Agents), "each agent's warm-up read, made outside its run");
                foreach (var report in reports)
                {
                    Assert.That(audit.Count(r => r.RunId == report.RunId && r.Decision == "allow"), Is.EqualTo(report.Allowed), report.RunId);
                    Assert.That(audit.Count(r => r.RunId == report.RunId && r.Decision == "deny"), Is.EqualTo(report.Calls - report.Allowed), report.RunId);
                }

                Assert.That(agents.Select(a => OutboxRecords(a.OutboxPath)), Is.All.Zero, "every agent shipped its outbox before it exited");
            });
        }
        finally
        {
            await Task.WhenAll(running.Select(a => a.DisposeAsync().AsTask()));
        }
    }

    /// <summary>Records waiting in the outbox files of the agent configured with <paramref name="path"/>.</summary>
    internal static long OutboxRecords(string path) => Keybrake.Client.TestUtilities.Outbox.OutboxFileSet.Records(path);
}
