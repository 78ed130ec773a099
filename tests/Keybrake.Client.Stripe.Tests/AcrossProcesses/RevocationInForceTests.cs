using Keybrake.Client.TestUtilities.Revocation;

namespace Keybrake.Client.Stripe.Tests;

/// <summary>
/// The promise of <c>keybrake keys revoke</c>: when the call returns, the revocation is in force in every process.
/// Four agent processes read through the guard without end while the key is revoked through the REST path a
/// hundred times. The revoke call returns once every agent has confirmed it applied the revocation (the bound is
/// raised so that a slow machine makes the call slower, not the test flaky; each reply must say all four
/// confirmed). Then no agent lets through a call that entered the guard after the revoke call returned.
/// </summary>
[NonParallelizable]
public sealed class RevocationInForceTests
{
    private const int Processes = 4;
    private const int Trials = 100;

    [Test]
    public async Task After_the_revoke_call_returns_no_process_allows_a_call()
    {
        await using var run = await RevocationTrials.StartAsync(new RevocationTrialOptions
        {
            Processes = Processes,
            TasksPerProcess = 2,
            PauseAfterAllowed = TimeSpan.FromMilliseconds(5),
            RevokedFor = TimeSpan.FromMilliseconds(50),
            AllowedFor = TimeSpan.FromMilliseconds(50),
            RevokeOverRest = true,
            KeyEventAckTimeout = TimeSpan.FromSeconds(30),
            StubLogLimit = 1_000,
        });
        var trials = new List<RevocationTrial>();
        for (var number = 1; number <= Trials; number++)
        {
            trials.Add(await run.RunTrialAsync(number));
        }

        var summaries = await run.StopAgentsAsync();
        Assert.Multiple(() =>
        {
            foreach (var trial in trials)
            {
                Assert.That(trial.Delivery, Is.Not.Null, $"trial {trial.Number}: the REST reply says how the revocation reached the processes");
                Assert.That((trial.Delivery!.Processes, trial.Delivery.Confirmed), Is.EqualTo((Processes, Processes)), $"trial {trial.Number}: {string.Join("; ", trial.Delivery.Unconfirmed)}");
            }

            foreach (var summary in summaries)
            {
                var agent = $"agent {summary.Process}";
                Assert.That(summary.Revocations.Select(r => r.Number), Is.EqualTo(Enumerable.Range(1, Trials)), $"{agent} saw every revocation, once");
                foreach (var seen in summary.Revocations)
                {
                    var trial = trials[seen.Number - 1];

                    // Calls allowed before this agent's first denial: each must have entered the guard before the
                    // revoke call returned. Calls after that denial: none may have been let through.
                    Assert.That(seen.LastAllowedStartedBefore, Is.LessThan(trial.RevokeReturned), $"{agent}, revocation {seen.Number}: a call that entered the guard after the revoke call returned was allowed");
                    Assert.That(seen.AllowedAfterPoint, Is.Zero, $"{agent}, revocation {seen.Number}");
                }

                Assert.That(summary.Denied.Keys, Is.EquivalentTo(new[] { ReasonCodes.KeyRevoked }), $"{agent}: revocations are the only denials");
                Assert.That(summary.Errors, Is.Empty);
            }
        });
    }
}
