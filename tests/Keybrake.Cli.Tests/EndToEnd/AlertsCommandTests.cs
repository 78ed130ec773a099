using Keybrake.Client.TestUtilities.Processes;
using Google.Protobuf;
using Grpc.Net.Client;
using Keybrake.Client.TestUtilities;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Protocol;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace Keybrake.Cli.Tests.EndToEnd;

/// <summary>
/// <c>keybrake alerts</c> as a process against the real budget service, whose webhook is a WireMock.Net receiver on
/// loopback that answers 500 until the test lets it recover.
/// </summary>
public sealed class AlertsCommandTests
{
    [Test]
    public async Task An_operator_lists_an_undelivered_alert_and_test_fires_the_webhook_before_and_after_it_recovers()
    {
        using var receiver = WireMockServer.Start();
        Answer(receiver, 500);
        await using var service = await BudgetServiceHost.StartAsync(TestServiceSettings(receiver.Urls[0] + "/hook"));
        using var channel = GrpcChannel.ForAddress(service.Address);
        var authorize = new AuthorizeRequest
        {
            KeyId = "cli-alerts",
            IdempotencyKey = "idem-cli-alerts-1",
            EstimateMicroUsd = 60_000_000,
            RequestHash = ByteString.CopyFrom(new byte[16]),
        };
        Assert.That((await BudgetServiceHost.BudgetClient(channel).AuthorizeAsync(authorize)).Allowed, Is.True);
        var admin = BudgetServiceHost.AdminClient(channel);
        await Poll.UntilAsync(
            async () => (await admin.ListAlertsAsync(new ListAlertsRequest { UndeliveredOnly = true })).Alerts,
            alerts => alerts.Count == 1 && alerts[0].Deliveries[0].Attempts >= 1);
        var environment = new Dictionary<string, string> { ["KEYBRAKE_SERVER"] = service.Address.ToString(), ["KEYBRAKE_ADMIN_TOKEN"] = BudgetServiceHost.AdminToken };

        var table = await CliProcess.RunAsync(["alerts", "list", "--undelivered"], environment);
        var json = await CliProcess.RunAsync(["alerts", "list", "--undelivered", "--json"], environment);
        var failing = await CliProcess.RunAsync(["alerts", "test-fire", "--webhook", "ops"], environment);
        Answer(receiver, 200);
        var recovered = await CliProcess.RunAsync(["alerts", "test-fire"], environment);
        var unknown = await CliProcess.RunAsync(["alerts", "test-fire", "--webhook", "nope"], environment);

        Assert.Multiple(() =>
        {
            Assert.That(table.ExitCode, Is.Zero, table.ToString());
            Assert.That(table.Out, Does.Contain("50% daily").And.Contain("cli-alerts").And.Contain("ops").And.Contain("pending").And.Contain("HTTP 500"));
            Assert.That(json.ExitCode, Is.Zero, json.ToString());
            var alert = json.Json().GetProperty("alerts")[0];
            Assert.That(alert.GetProperty("type").GetString(), Is.EqualTo("budget.threshold"));
            Assert.That(alert.GetProperty("thresholdPercent").GetInt32(), Is.EqualTo(50));
            Assert.That(alert.GetProperty("deliveries")[0].GetProperty("lastError").GetString(), Is.EqualTo("HTTP 500"));
            Assert.That(failing.ExitCode, Is.EqualTo(1), failing.ToString());
            Assert.That(failing.Out, Is.EqualTo("Not delivered to webhook ops: HTTP 500" + Environment.NewLine));
            Assert.That(failing.Error, Is.EqualTo("error: the test alert did not reach ops" + Environment.NewLine));
            Assert.That(recovered.ExitCode, Is.Zero, recovered.ToString());
            Assert.That(recovered.Out, Is.EqualTo("Delivered to webhook ops (HTTP 200)." + Environment.NewLine));
            Assert.That(unknown.ExitCode, Is.EqualTo(1), unknown.ToString());
            Assert.That(unknown.Error, Does.Contain("no webhook is named 'nope'"));
            Assert.That(table.Out + json.Out + failing.Out + recovered.Out, Does.Not.Contain(WebhookSecret));
        });
    }

    private const string WebhookSecret = "whsec-cli-0123456789abcdef";

    private static Dictionary<string, string?> TestServiceSettings(string url)
    {
        var settings = BudgetServiceHost.Key("cli-alerts", "100");
        settings["BudgetService:Alerts:Webhooks:ops:Url"] = url;
        settings["BudgetService:Alerts:Webhooks:ops:Secret"] = WebhookSecret;
        return settings;
    }

    private static void Answer(WireMockServer receiver, int status)
    {
        receiver.ResetMappings();
        receiver.Given(Request.Create().UsingPost()).RespondWith(Response.Create().WithStatusCode(status));
    }
}
