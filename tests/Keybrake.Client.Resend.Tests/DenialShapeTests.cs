using System.Text.Json;
using Keybrake.Client.Resend.Tests.Sdk;

namespace Keybrake.Client.Resend.Tests;

public sealed class DenialShapeTests
{
    [TestCaseSource(typeof(ReasonCodes), nameof(ReasonCodes.All))]
    public void Every_reason_is_reported_under_a_name_the_SDK_parses_and_does_not_call_transient(string reason)
    {
        using var response = ResendDenialResponse.Create(new GuardDenial(reason, "Keybrake denied POST /emails (test)."));
        var body = JsonDocument.Parse(response.Content.ReadAsStringAsync().GetAwaiter().GetResult()).RootElement;
        var name = body.GetProperty("name").GetString()!;

        Assert.Multiple(() =>
        {
            Assert.That(ResendSdkErrorNames.IsKnown(name), Is.True, $"'{name}' is an ErrorType the SDK knows");
            Assert.That(ResendSdkErrorNames.IsTransient(name), Is.False);
            Assert.That((int)response.StatusCode, Is.EqualTo(ReasonCodes.StatusCodeFor(reason)));
            Assert.That((int)response.StatusCode, Is.InRange(400, 499), "a 4xx, never a status anyone retries as a server error");
            Assert.That(body.GetProperty("statusCode").GetInt32(), Is.EqualTo((int)response.StatusCode), "the SDK takes the status from the body");
            Assert.That(body.GetProperty("message").GetString(), Does.StartWith($"keybrake_{reason}: "));
            Assert.That(response.Content.Headers.ContentType!.MediaType, Is.EqualTo("application/json"));
        });
    }

    [Test]
    public async Task A_denial_through_the_guard_carries_the_Keybrake_Decision_header_and_the_same_reason_in_the_body()
    {
        await using var host = ResendGuardHost.Start(policy => policy.DailyCap = Usd.Zero);
        using var raw = host.RawClient();

        using var response = await raw.PostAsync("/emails/batch", new StringContent("""[{"from":"a@acme.example","to":"b@customer.example","subject":"x"}]""", System.Text.Encoding.UTF8, "application/json"));

        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Multiple(() =>
        {
            Assert.That(response.Headers.GetValues(KeybrakeHeaders.Decision).Single(), Is.EqualTo(ReasonCodes.DailyCapExceeded));
            Assert.That(body.GetProperty("message").GetString(), Does.StartWith("keybrake_daily_cap_exceeded: Keybrake denied POST /emails/batch"));
            Assert.That(body.GetProperty("name").GetString(), Is.EqualTo("invalid_access"));
        });
    }
}
