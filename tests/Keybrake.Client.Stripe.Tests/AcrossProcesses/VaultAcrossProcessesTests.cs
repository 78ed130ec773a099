using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Grpc.Core;
using Grpc.Net.Client;
using Keybrake.Client.TestUtilities;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Client.TestUtilities.Processes;
using Keybrake.Client.TestUtilities.Secrets;
using Keybrake.Client.TestUtilities.Stripe;
using Keybrake.Protocol;

namespace Keybrake.Client.Stripe.Tests;

/// <summary>
/// The vault end to end, every part its own OS process: the budget service holds two keys' Stripe secrets (set with the
/// CLI from standard input), four agent processes with no VendorSecret in their configuration charge through the real
/// Stripe.net client, and the operator rotates one key's secret mid-run. The Stripe stand-ins accept only the keys' own
/// secrets, as Stripe would. Afterwards nothing the service, the agents or the CLI wrote holds a secret.
/// </summary>
[NonParallelizable]
public sealed class VaultAcrossProcessesTests
{
    private const string KeyA = "vault-a";
    private const string KeyB = "vault-b";
    private const int TasksPerAgent = 8;

    /// <summary>Charges on key A before the rotation, and charges begun after it, that the test waits for.</summary>
    private const int ChargesEachSide = 40;

    [Test]
    public async Task Four_agents_charge_with_the_secrets_the_service_holds_switch_at_a_rotation_without_a_failure_and_leave_no_secret_behind()
    {
        var oldA = Secret("a1");
        var newA = Secret("a2");
        var secretB = Secret("b1");
        string[] secrets = [oldA, newA, secretB];
        using var stripeA = StripeStub.Start();
        using var stripeB = StripeStub.Start();
        stripeA.AcceptOnly(oldA, newA);
        stripeB.AcceptOnly(secretB);
        var agentsFolder = Directory.CreateTempSubdirectory("keybrake-vault-agents-").FullName;
        var keysFolder = Directory.CreateTempSubdirectory("keybrake-vault-master-").FullName;
        var settings = new Dictionary<string, string?>(BudgetServiceHost.Key(KeyA, "100000"));
        foreach (var (name, value) in BudgetServiceHost.Key(KeyB, "100000"))
        {
            settings[name] = value;
        }

        settings["BudgetService:Vault:MasterKeyFile"] = WriteMasterKey(keysFolder);
        settings["Logging:LogLevel:Default"] = "Debug"; // every line the service can write, scanned below
        await using var service = await BudgetServiceProcess.StartAsync(settings);
        var operatorShell = new Dictionary<string, string>
        {
            ["KEYBRAKE_SERVER"] = service.Address.ToString(),
            ["KEYBRAKE_ADMIN_TOKEN"] = BudgetServiceHost.AdminToken,
        };
        var cli = new List<CliResult>
        {
            await CliProcess.RunAsync(["keys", "set-secret", KeyA], operatorShell, standardInput: oldA + "\n"),
            await CliProcess.RunAsync(["keys", "set-secret", KeyB], operatorShell, standardInput: secretB + "\n"),
        };
        Assert.That(cli.Select(run => run.ExitCode), Is.All.Zero, string.Join("\n", cli));

        var running = new List<AgentProcess>();
        try
        {
            var agents = await AgentProcess.StartTogetherAsync(
                Enumerable.Range(0, 4).Select(i => (Func<Task<AgentProcess>>)(() => AgentProcess.StartAsync(
                    service.Address, i < 2 ? stripeA.Url : stripeB.Url, i < 2 ? KeyA : KeyB, agentsFolder, $"vault-agent{i}", seed: i,
                    "--secret", "none", "--stamp-start", "--until-stop", "--pause-ms", "5", "--tasks", $"{TasksPerAgent}",
                    "--min-cents", "50", "--max-cents", "150", "--log-level", "Debug"))),
                running);

            await Poll.UntilAsync(() => Charges(stripeA).Count, count => count >= ChargesEachSide);
            var rotation = await CliProcess.RunAsync(["keys", "rotate-secret", KeyA], operatorShell, standardInput: newA + "\n");
            var rotatedAt = UnixMicros(TimeProvider.System.GetUtcNow());
            cli.Add(rotation);
            Assert.That(rotation.ExitCode, Is.Zero, rotation.ToString());
            Assert.That(rotation.Out, Does.Contain("now v2").And.Contain("all 4 processes on the key event stream confirmed"), "every agent applied the rotation before the command returned");

            await Poll.UntilAsync(() => Charges(stripeA).Count(c => StartedAt(c) > rotatedAt), count => count >= ChargesEachSide);

            // The outboxes while the agents run and write to them: an agent deletes its own once shipped, at exit.
            var outboxesMidRun = Directory.EnumerateFiles(agentsFolder, "*outbox*").Count();
            var inOutboxesMidRun = SecretScan.InFiles(agentsFolder, secrets);
            await Task.WhenAll(agents.Select(a => a.StopAsync()));
            var reports = await Task.WhenAll(agents.Select(a => a.FinishAsync()));

            var chargesA = Charges(stripeA);
            var chargesB = Charges(stripeB);
            var everyRequest = stripeA.Received.Concat(stripeB.Received).ToList();
            Assert.Multiple(() =>
            {
                Assert.That(reports.SelectMany(r => r.Errors.Keys), Is.Empty, "no call failed");
                Assert.That(reports.SelectMany(r => r.Denied.Keys), Is.Empty, "no call was denied");
                Assert.That(everyRequest.Select(r => r.Status), Is.All.EqualTo(200), "the stand-ins accepted every call's secret");
                Assert.That(everyRequest.Select(Authorization), Has.None.Contains("vault_key_"), "no call carried a brake key");
                Assert.That(chargesA.Select(Authorization), Is.All.AnyOf("Bearer " + oldA, "Bearer " + newA), "key A's calls carried key A's secrets only");
                Assert.That(chargesB.Select(Authorization), Is.All.EqualTo("Bearer " + secretB), "key B's calls carried key B's secret only");
                Assert.That(chargesA.Where(c => StartedAt(c) > rotatedAt).Select(Authorization), Is.All.EqualTo("Bearer " + newA), "every call begun after the rotation carried the new secret");
                Assert.That(chargesA.Count(c => Authorization(c) == "Bearer " + oldA), Is.GreaterThanOrEqualTo(ChargesEachSide), "the calls before it carried the old one");
                Assert.That(reports.Sum(r => r.Allowed), Is.EqualTo(chargesA.Count + chargesB.Count));
            });

            // Everything written after a full run: the service's own log and files, the agents' logs and outboxes, the
            // CLI's output and the exported audit trail.
            var audit = await ExportAuditAsync(service.Address);
            Assert.That(audit, Does.Contain(KeyA).And.Contain(KeyB), "the export holds the run's records");
            var places = new List<(string, string)>
            {
                ("the service's log", service.Diagnostics),
                ("the exported audit", audit),
            };
            places.AddRange(agents.Select((a, i) => ($"agent {i}'s log", a.Diagnostics)));
            places.AddRange(cli.Select((run, i) => ($"CLI run {i}", run.Out + run.Error)));
            Assert.Multiple(() =>
            {
                Assert.That(SecretScan.InTexts(places, secrets), Is.Empty);
                Assert.That(SecretScan.InFiles(service.Directory, secrets), Is.Empty, "the service's database files");
                Assert.That(inOutboxesMidRun, Is.Empty, "the agents' outbox files, mid-run");
                Assert.That(SecretScan.InFiles(agentsFolder, secrets), Is.Empty, "the agents' files after they exited");
                Assert.That(SecretScan.FileCount(service.Directory), Is.GreaterThan(0));
                Assert.That(outboxesMidRun, Is.GreaterThanOrEqualTo(4), "each agent's outbox was there to scan");
            });
        }
        finally
        {
            await Task.WhenAll(running.Select(a => a.DisposeAsync().AsTask()));
            Directory.Delete(agentsFolder, recursive: true);
            Directory.Delete(keysFolder, recursive: true);
        }
    }

    private static string Secret(string name) => $"sk_test_vault{name}_{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12))}";

    private static string WriteMasterKey(string folder)
    {
        var path = Path.Combine(folder, "master.key");
        File.WriteAllText(path, Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)) + "\n");
        return path;
    }

    private static List<StubRequest> Charges(StripeStub stub) =>
        stub.Received.Where(r => r is { Method: "POST", Path: "/v1/charges" }).ToList();

    private static string Authorization(StubRequest request) => request.Headers.GetValueOrDefault("Authorization", string.Empty);

    private static long StartedAt(StubRequest charge) => long.Parse(charge.Form["metadata[started_us]"] ?? "0", CultureInfo.InvariantCulture);

    private static long UnixMicros(DateTimeOffset at) => (at - DateTimeOffset.UnixEpoch).Ticks / 10;

    private static async Task<string> ExportAuditAsync(Uri service)
    {
        using var channel = GrpcChannel.ForAddress(service);
        var admin = BudgetServiceHost.AdminClient(channel);
        var text = new StringBuilder();
        using var export = admin.ExportAudit(new ExportAuditRequest());
        await foreach (var chunk in export.ResponseStream.ReadAllAsync())
        {
            text.Append(chunk.Data.ToStringUtf8());
        }

        return text.ToString();
    }
}
