using Google.Protobuf;
using Keybrake.Protocol;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace Keybrake.BudgetService.ConsoleTests;

/// <summary>The Alerts page: an alert its webhook keeps refusing is shown as undelivered, with its attempts and last error.</summary>
public sealed class AlertsPageTests : BrowserTest
{
    private WireMockServer _receiver = null!;

    protected override IDictionary<string, string?>? ServiceSettings
    {
        get
        {
            // Started here, before the service that posts to it: the base class starts the service in its SetUp.
            _receiver = WireMockServer.Start();
            _receiver.Given(Request.Create().WithPath("/hook").UsingPost())
                .RespondWith(Response.Create().WithStatusCode(500).WithBody("receiver down"));
            return new Dictionary<string, string?>
            {
                ["BudgetService:Alerts:Webhooks:ops:Url"] = _receiver.Url + "/hook",
                ["BudgetService:Alerts:Webhooks:ops:Secret"] = "console-tests-webhook-secret-0123",
                ["BudgetService:Alerts:RetryBaseDelay"] = "00:00:00.2",
                ["BudgetService:Alerts:PollInterval"] = "00:00:00.1",
            };
        }
    }

    [TearDown]
    public void StopReceiver() => _receiver?.Stop();

    [Test]
    public async Task An_alert_the_webhook_refuses_is_listed_as_undelivered_with_its_attempts_and_last_error()
    {
        // $60 reserved of the key's $100 day: the 50% threshold fires.
        var reserved = await Service.Budget.AuthorizeAsync(new AuthorizeRequest
        {
            KeyId = ConsoleService.KeyId,
            IdempotencyKey = "idem_console_alert",
            EstimateMicroUsd = 60_000_000,
            RequestHash = ByteString.CopyFrom(new byte[16]),
        });
        Assert.That(reserved.Allowed, Is.True);

        await SignInAsync("/console/alerts?undelivered=true");
        var row = Page.Locator("#alerts tr[data-undelivered='true']");
        await Expect(row).ToHaveCountAsync(1);
        await Expect(row).ToContainTextAsync("50% of the daily cap");
        await Expect(row.Locator(".delivery-pending")).ToContainTextAsync("ops: pending");
        await Expect(row.Locator(".delivery-pending")).ToContainTextAsync("HTTP 500");
        await ScreenshotAsync("alerts");

        Assert.That(_receiver.LogEntries.Count, Is.GreaterThanOrEqualTo(1), "the service tried the webhook");
    }
}
