using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Client.TestUtilities.Processes;
using Microsoft.Extensions.Options;

namespace Keybrake.BudgetService.Tests.Alerts;

/// <summary>Webhook settings are checked at start-up: every problem named, no secret shown.</summary>
public sealed class AlertSettingsTests
{
    [Test]
    public void Every_problem_of_the_webhooks_is_named_and_no_secret_is_shown()
    {
        var settings = TestService.Settings(BudgetServiceHost.Key("agent", "100"), new Dictionary<string, string?>
        {
            ["BudgetService:Alerts:Webhooks:plain:Url"] = "http://alerts.example.com/hook",
            ["BudgetService:Alerts:Webhooks:plain:Secret"] = "s3cr3t-value",
            ["BudgetService:Alerts:Webhooks:nosecret:Url"] = "https://alerts.example.com/hook",
            ["BudgetService:Alerts:Webhooks:teams:Url"] = "https://alerts.example.com/teams",
            ["BudgetService:Alerts:Webhooks:teams:SecretFile"] = Path.Combine(Path.GetTempPath(), "keybrake-no-such-webhook-secret"),
            ["BudgetService:Alerts:Webhooks:teams:Format"] = "teams",
            ["BudgetService:Alerts:Webhooks:teams:Events:0"] = "everything",
            ["BudgetService:Alerts:Thresholds:0"] = "0",
        });

        var failure = Assert.CatchAsync<OptionsValidationException>(async () => await BudgetServiceHost.StartAsync(settings));

        Assert.That(failure!.Failures, Is.EquivalentTo(new[]
        {
            "BudgetService:Alerts:Thresholds has 0: use percentages from 1 to 1000",
            "BudgetService:Alerts:Webhooks:plain:Url uses http to alerts.example.com, which other hosts can reach: use https (http is accepted on loopback only)",
            "BudgetService:Alerts:Webhooks:plain:Secret holds a secret shorter than 16 characters",
            "BudgetService:Alerts:Webhooks:nosecret has no secret: set BudgetService:Alerts:Webhooks:nosecret:SecretFile (a file holding it) or BudgetService:Alerts:Webhooks:nosecret:Secret, at least 16 characters",
            $"BudgetService:Alerts:Webhooks:teams:SecretFile '{Path.Combine(Path.GetTempPath(), "keybrake-no-such-webhook-secret")}' cannot be read (FileNotFoundException)",
            "BudgetService:Alerts:Webhooks:teams:Format is 'teams': use json or slack",
            "BudgetService:Alerts:Webhooks:teams:Events has 'everything': use any of budget.threshold, denials.burst, key.restored, key.revoked",
        }));
    }

    [Test]
    public async Task The_service_process_refuses_a_cleartext_webhook_in_one_line_without_its_secret_and_exits_1()
    {
        var directory = Directory.CreateTempSubdirectory("keybrake-budget-alerts-").FullName;
        try
        {
            await using var process = DotnetProcess.Start(
                "Keybrake.BudgetService.dll",
                [
                    "--BudgetService:Port=0", "--BudgetService:RestPort=-1", $"--BudgetService:StoragePath={Path.Combine(directory, "budget.db")}",
                    $"--BudgetService:AdminToken={BudgetServiceHost.AdminToken}",
                    "--BudgetService:Alerts:Webhooks:ops:Url=http://alerts.example.com/hook", "--BudgetService:Alerts:Webhooks:ops:Secret=s3cr3t-value-0123456789",
                ],
                workingDirectory: directory);

            var exitCode = await process.WaitForExitAsync(TimeSpan.FromSeconds(60));

            var errors = process.Diagnostics[(process.Diagnostics.IndexOf("stderr:\n", StringComparison.Ordinal) + "stderr:\n".Length)..].Trim();
            Assert.Multiple(() =>
            {
                Assert.That(exitCode, Is.EqualTo(1));
                Assert.That(errors, Is.EqualTo("error: The budget service's settings are not valid: BudgetService:Alerts:Webhooks:ops:Url uses http to alerts.example.com, which other hosts can reach: use https (http is accepted on loopback only)"));
                Assert.That(process.Diagnostics, Does.Not.Contain("s3cr3t-value"));
            });
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
