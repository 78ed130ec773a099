using Keybrake.Client.TestUtilities;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Client.TestUtilities.Stripe;

namespace Keybrake.Client.Stripe.Tests;

/// <summary>
/// An agent process keeps calling through a budget service outage (the service killed, then started again on
/// the same port and data) and exits one second after the service is back, as a deploy or a short job would.
/// The outbox's circuit breaker, opened by the outage, may still be open then: the last ship must not care.
/// Every audit record reaches the service, and none is left in the agent's outbox.
/// </summary>
[NonParallelizable]
public sealed class LastShipTests
{
    private const int ChargesBeforeTheOutage = 5;
    private const int DenialsDuringTheOutage = 20;

    [Test]
    public async Task A_process_exiting_one_second_after_the_service_returns_ships_every_audit_record()
    {
        using var stub = StripeStub.Start();
        await using var service = await BudgetServiceProcess.StartAsync(BudgetServiceHost.Key(SharedCapAcrossProcessesTests.KeyId, "1000"));
        var running = new List<AgentProcess>();
        try
        {
            var agents = await AgentProcess.StartTogetherAsync(
                [() => AgentProcess.StartAsync(
                    service.Address, stub.Url, SharedCapAcrossProcessesTests.KeyId, service.Directory, "last-ship-agent", seed: 7,
                    "--tasks", "2", "--until-stop", "--pause-ms", "20", "--pause-after-denial-ms", "20", "--min-cents", "50", "--max-cents", "60")],
                running);
            var agent = agents.Single();

            await Poll.UntilAsync(() => stub.Received.Count(r => r is { Method: "POST", Path: "/v1/charges" }), count => count >= ChargesBeforeTheOutage);
            await service.KillAsync();

            // The outage, as the agent saw it: calls denied, their records waiting in its outbox, the ships failing
            // often enough for the breakers to open (eight failures in ten seconds).
            var denied = await Poll.UntilAsync(() => agent.WaitingInOutbox(ReasonCodes.BudgetServiceUnavailable), count => count >= DenialsDuringTheOutage);
            await service.RestartAsync();

            // The scenario itself, not a wait for luck: the process exits one second after the service answers again.
            await Task.Delay(TimeSpan.FromSeconds(1));
            await agent.StopAsync();
            var report = await agent.FinishAsync();

            // The agent has exited: what it shipped is in the service's file, and what it did not is in its outbox.
            var audit = BudgetStoreFile.ReadAudit(service.StoragePath);
            Assert.Multiple(() =>
            {
                Assert.That(denied, Is.GreaterThanOrEqualTo(DenialsDuringTheOutage), "calls were denied while the service was down");
                Assert.That(SharedCapAcrossProcessesTests.OutboxRecords(agent.OutboxPath), Is.Zero, "nothing was left in the outbox");
                Assert.That(audit.Select(r => r.RecordId).Distinct().Count(), Is.EqualTo(audit.Count), "none twice");
                Assert.That(audit, Has.Count.EqualTo(report.WarmUps + report.Calls), "one audit record per call reached the service");
                Assert.That(audit.Count(r => r.Reason == ReasonCodes.BudgetServiceUnavailable), Is.EqualTo(report.DeniedFor(ReasonCodes.BudgetServiceUnavailable)));
                Assert.That(report.Errors, Is.Empty);
            });
        }
        finally
        {
            await Task.WhenAll(running.Select(a => a.DisposeAsync().AsTask()));
        }
    }
}
