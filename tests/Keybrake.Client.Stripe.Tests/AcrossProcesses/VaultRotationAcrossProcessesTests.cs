using System.Globalization;
using System.Net;
using Keybrake.Client.TestUtilities;
using Keybrake.Client.TestUtilities.FakeBudget;
using Keybrake.Client.TestUtilities.Stripe;

namespace Keybrake.Client.Stripe.Tests;

/// <summary>
/// Four agent processes with no vendor secret in their configuration charge through the guard; the budget service
/// (the hand-written fake, on a real port) holds the secret and rotates it mid-run. The Stripe stand-in refuses any
/// Authorization header but the service's secrets, and records the one each charge carried.
/// </summary>
[NonParallelizable]
public sealed class VaultRotationAcrossProcessesTests
{
    private const string KeyId = "vault-agent";
    private const int Agents = 4;
    private const int TasksPerAgent = 2;
    private const string FirstSecret = "sk_test_51VaultAcrossProcessesFirst000000001";
    private const string SecondSecret = "sk_test_51VaultAcrossProcessesSecond00000002";

    [Test]
    public async Task Four_agent_processes_without_a_secret_switch_to_the_rotated_one_and_no_call_fails()
    {
        using var stub = StripeStub.Start();
        stub.RefuseAuthorizationsOtherThan("Bearer sk_test_51VaultAcrossProcesses*");
        var state = new FakeBudgetState().AddKey(KeyId);
        state.SetSecret(KeyId, FirstSecret);
        await using var service = await FakeBudgetService.StartAsync(state);
        var folder = Directory.CreateTempSubdirectory("keybrake-vault-agents-").FullName;
        var running = new List<AgentProcess>();
        try
        {
            // The stand-in really checks: a brake key in place of the secret is refused as Stripe would.
            using (var probe = new HttpClient())
            using (var request = new HttpRequestMessage(HttpMethod.Post, stub.Url + "/v1/charges"))
            {
                request.Headers.Authorization = new("Bearer", AgentProcess.BrakeKey);
                using var refused = await probe.SendAsync(request);
                Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
            }

            stub.Server.ResetLogEntries(); // the probe is not an agent's call

            var agents = await AgentProcess.StartTogetherAsync(
                Enumerable.Range(0, Agents).Select(i => (Func<Task<AgentProcess>>)(() => AgentProcess.StartAsync(
                    service.Address, stub.Url, KeyId, folder, $"agent{i}", seed: i,
                    "--no-secret", "--tasks", $"{TasksPerAgent}", "--until-stop", "--pause-ms", "10"))),
                running);
            Assert.That(await state.WaitForSubscriberAsync(Agents), Is.True, "every agent watches its keys");
            var tasks = Enumerable.Range(0, Agents).SelectMany(i => Enumerable.Range(0, TasksPerAgent).Select(t => $"agent{i}-t{t}")).ToList();
            await Poll.UntilAsync(() => Charges(stub), charges => tasks.All(task => charges.Any(c => c.Task == task)));

            var rotation = state.RotateSecret(KeyId, SecondSecret);
            var confirmed = await state.WaitForAcknowledgementAsync(rotation, Agents);

            // Each task has at most one charge under way when its process applies the event; every charge it starts
            // after that one carries the new secret.
            var lastBeforeConfirmed = Charges(stub).GroupBy(c => c.Task).ToDictionary(g => g.Key, g => g.Max(c => c.Number));
            bool StartedAfter((string Task, int Number, string Authorization) charge) => charge.Number >= lastBeforeConfirmed.GetValueOrDefault(charge.Task, -1) + 2;

            // Every task of every agent makes a few charges it started after its process applied the event.
            await Poll.UntilAsync(() => Charges(stub), charges => tasks.All(task => charges.Count(c => c.Task == task && StartedAfter(c)) >= 3));
            await Task.WhenAll(agents.Select(a => a.StopAsync()));
            var reports = await Task.WhenAll(agents.Select(a => a.FinishAsync()));
            var charges = Charges(stub);

            Assert.Multiple(() =>
            {
                Assert.That(confirmed, Is.True, "every agent applied the rotation");
                Assert.That(reports.SelectMany(r => r.Denied.Keys), Is.Empty, "no call was denied");
                Assert.That(reports.SelectMany(r => r.Errors.Keys), Is.Empty, "no call failed");
                Assert.That(reports.Sum(r => r.Allowed), Is.EqualTo(charges.Count));
                Assert.That(tasks.Select(task => charges.Count(c => c.Task == task && StartedAfter(c))), Has.All.GreaterThanOrEqualTo(3), "every task charged after the event");
                Assert.That(charges.Select(c => c.Authorization).Distinct().Order(), Is.EqualTo(new[] { "Bearer " + FirstSecret, "Bearer " + SecondSecret }), "only the service's secrets, never a brake key");
                Assert.That(stub.Received.Select(r => r.Headers.GetValueOrDefault("Authorization") ?? string.Empty), Has.None.Contains("vault_key_"));
                Assert.That(
                    charges.Where(StartedAfter).Select(c => c.Authorization),
                    Has.All.EqualTo("Bearer " + SecondSecret),
                    "every charge started after its process applied the event carries the new secret");
                foreach (var task in charges.GroupBy(c => c.Task))
                {
                    var secrets = task.OrderBy(c => c.Number).Select(c => c.Authorization).ToList();
                    Assert.That(secrets.SkipWhile(s => s == "Bearer " + FirstSecret), Has.All.EqualTo("Bearer " + SecondSecret), $"{task.Key} never went back to the old secret");
                }

                Assert.That(reports.Select(r => r.WarmUps), Has.All.EqualTo(1), "each agent's warm-up read fetched the first secret");
                Assert.That(state.SecretRequests(KeyId), Is.EqualTo(2 * Agents), "each process fetched each version once\n" + string.Join("\n", agents.Select(a => a.Diagnostics)));
            });
        }
        finally
        {
            await Task.WhenAll(running.Select(a => a.DisposeAsync().AsTask()));
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>The charges the stand-in received: the agent task and charge number from the idempotency key (<c>agent0-t1-c17</c>), and the secret.</summary>
    private static List<(string Task, int Number, string Authorization)> Charges(StripeStub stub) =>
        stub.Received
            .Where(r => r is { Method: "POST", Path: "/v1/charges" } && r.Headers.ContainsKey("Idempotency-Key"))
            .Select(r =>
            {
                var key = r.Headers["Idempotency-Key"];
                var cut = key.LastIndexOf("-c", StringComparison.Ordinal);
                return (key[..cut], int.Parse(key[(cut + 2)..], CultureInfo.InvariantCulture), r.Headers["Authorization"]);
            })
            .ToList();
}
