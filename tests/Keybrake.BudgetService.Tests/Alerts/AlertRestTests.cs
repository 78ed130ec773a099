using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Keybrake.Client.TestUtilities;
using Keybrake.Client.TestUtilities.BudgetService;
using static Keybrake.BudgetService.Tests.Calls;

namespace Keybrake.BudgetService.Tests.Alerts;

/// <summary>The alert RPCs as REST, as an operator's curl would call them: behind the admin token like every admin path.</summary>
public sealed class AlertRestTests
{
    [Test]
    public async Task Undelivered_alerts_and_a_test_fire_over_rest_and_neither_without_the_admin_token()
    {
        using var receiver = new WebhookReceiver(status: 500);
        await using var service = await TestService.StartAsync(TestService.Settings(BudgetServiceHost.Key("agent", "100"), receiver.Webhook()));
        await service.Budget.AuthorizeAsync(Authorize("agent", 80));
        using var http = new HttpClient { BaseAddress = service.Host.RestAddress };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", BudgetServiceHost.AdminToken);
        using var anonymous = new HttpClient { BaseAddress = service.Host.RestAddress };

        var undelivered = await Poll.UntilAsync(
            () => http.GetFromJsonAsync<JsonElement>("/v1/alerts?undeliveredOnly=true"),
            body => body.TryGetProperty("alerts", out var alerts) && alerts.GetArrayLength() == 2
                && alerts.EnumerateArray().All(alert => alert.GetProperty("deliveries")[0].GetProperty("attempts").GetInt32() >= 1));
        using var fired = await http.PostAsync("/v1/alerts/test-fire", new StringContent("""{"webhook":"ops"}""", Encoding.UTF8, "application/json"));
        var firedBody = await fired.Content.ReadFromJsonAsync<JsonElement>();
        using var refusedList = await anonymous.GetAsync("/v1/alerts");
        using var refusedFire = await anonymous.PostAsync("/v1/alerts/test-fire", new StringContent("{}", Encoding.UTF8, "application/json"));

        Assert.Multiple(() =>
        {
            Assert.That(undelivered.GetProperty("alerts").EnumerateArray().Select(alert => alert.GetProperty("thresholdPercent").GetInt32()), Is.EquivalentTo(new[] { 50, 80 }));
            Assert.That(undelivered.GetProperty("alerts")[0].GetProperty("deliveries")[0].GetProperty("lastError").GetString(), Is.EqualTo("HTTP 500"));
            Assert.That(fired.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(firedBody.GetProperty("results")[0].GetProperty("statusCode").GetInt32(), Is.EqualTo(500));
            Assert.That(refusedList.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
            Assert.That(refusedFire.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
            Assert.That(receiver.Received().Count(post => post.Type == "alert.test"), Is.EqualTo(1), "the refused test-fire sent nothing");
        });
    }
}
