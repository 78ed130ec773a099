using Keybrake.Client.TestUtilities;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Client.TestUtilities.Revocation;
using static Keybrake.Client.Stripe.Tests.SharedCapAcrossProcessesTests;

namespace Keybrake.Client.Stripe.Tests;

/// <summary>
/// Four agent processes read (and every fourth call, charge) through the guard in central mode without end, while
/// the key is revoked and restored through the admin API ten times: every process sees every revocation, none lets
/// a call through that entered the guard after its first denial, the restoration brings every process back, and
/// the service's books and audit, and what reached the Stripe stand-in, agree with what the agents saw. How fast the
/// revocation arrives is the load harness's concern (docs/benchmarks.md), not this test's.
/// </summary>
[NonParallelizable]
public sealed class RevocationAcrossProcessesTests
{
    private const int Processes = 4;
    private const int Trials = 10;

    /// <param name="leases">Whether the key leases its budget: the charges are then decided on each process's lease, which the revocation voids.</param>
    [Test]
    public async Task A_revocation_reaches_every_process_no_call_is_allowed_after_it_and_the_restoration_brings_every_process_back([Values(false, true)] bool leases)
    {
        await using var run = await RevocationTrials.StartAsync(new RevocationTrialOptions
        {
            Leases = leases,
            Processes = Processes,
            TasksPerProcess = 3,
            ChargeEvery = 4,
            RevokedFor = TimeSpan.FromMilliseconds(150),
            AllowedFor = TimeSpan.FromMilliseconds(150),
        });
        var trials = new List<RevocationTrial>();
        for (var number = 1; number <= Trials; number++)
        {
            trials.Add(await run.RunTrialAsync(number));
        }

        var summaries = await run.StopAgentsAsync();
        var (stubChecked, stubLate) = run.StubRequestsAfterThePoint(trials, summaries);
        var revoked = summaries.Sum(s => s.DeniedFor(ReasonCodes.KeyRevoked));
        var allowed = summaries.Sum(s => s.AllowedReads + s.AllowedCharges);
        var charges = run.Stub.Received.Where(r => r is { Method: "POST", Path: "/v1/charges" }).ToList();
        var reservations = BudgetStoreFile.ReadReservations(run.Service.StoragePath);

        // Every call through the guard has its audit record at the service: the agents' calls and one warm-up read each.
        var calls = summaries.Sum(s => s.Calls) + Processes;
        var audit = await Poll.UntilAsync(() => BudgetStoreFile.ReadAudit(run.Service.StoragePath), records => records.Count >= calls);
        Assert.Multiple(() =>
        {
            foreach (var trial in trials)
            {
                Assert.That(trial.FirstDenials.Select(d => d.Returned), Is.All.GreaterThan(trial.RevokeCalled), $"trial {trial.Number}: no process was denied before the revocation was made");
                Assert.That(trial.FirstDenials.Select(d => d.Kind), Is.All.EqualTo("read"));
                Assert.That(trial.FirstAllowed.Select(a => a.Returned), Is.All.GreaterThan(trial.RestoreStarted), $"trial {trial.Number}: no process was allowed again before the restoration began");
            }

            foreach (var summary in summaries)
            {
                var agent = $"agent {summary.Process}";
                Assert.That(summary.Revocations.Select(r => r.Number), Is.EqualTo(Enumerable.Range(1, Trials)), $"{agent} saw every revocation, once");
                Assert.That(summary.Revocations.Select(r => r.AllowedAfterPoint), Is.All.Zero, $"{agent}: no call allowed that entered the guard after the point");
                Assert.That(summary.Revocations.Select(r => r.RestoredReturned), Is.All.Not.Null, $"{agent} was allowed again after every restoration");
                Assert.That(summary.Revocations.Select(r => r.Denied), Is.All.Positive);
                Assert.That(summary.AllowedReads, Is.Positive);
                Assert.That(summary.AllowedCharges, Is.Positive);
                Assert.That(summary.Denied.Keys, Is.EquivalentTo(new[] { ReasonCodes.KeyRevoked }), $"{agent}: revocations are the only denials");
                Assert.That(summary.Errors, Is.Empty);
            }

            // What reached the stand-in, labelled by the agents behind the guard, against the agents' points and the
            // revoke calls: nothing the guard let through late (a charge, not even between the revoke returning and
            // the push arriving: Authorize checks revocation at the service).
            Assert.That(stubChecked, Is.EqualTo(allowed + Processes), "every allowed call and warm-up reached the stand-in, labelled");
            Assert.That(stubLate, Is.Empty);

            // The service's books and audit agree with the agents.
            Assert.That(charges, Has.Count.EqualTo(summaries.Sum(s => s.AllowedCharges)));
            Assert.That(reservations.Select(r => r.State), Is.All.EqualTo("committed"), "a charge denied for the revocation reserved nothing");
            Assert.That(reservations, Has.Count.EqualTo(charges.Count));
            Assert.That(audit, Has.Count.EqualTo(calls), "one audit record per call");
            Assert.That(audit.Count(r => r.Reason == ReasonCodes.KeyRevoked), Is.EqualTo(revoked));
            Assert.That(audit.Count(r => r.Decision == "allow"), Is.EqualTo(allowed + Processes));
            Assert.That(run.Outboxes.Select(OutboxRecords), Is.All.Zero, "every agent shipped its outbox before it exited");
        });
    }
}
