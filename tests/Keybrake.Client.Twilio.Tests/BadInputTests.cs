using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Twilio.Clients;
using Twilio.Exceptions;
using Twilio.Rest.Api.V2010.Account;
using Twilio.Types;

namespace Keybrake.Client.Twilio.Tests;

/// <summary>Bad input gets a clear, Twilio-shaped denial, reaches nobody and costs nothing.</summary>
public sealed class BadInputTests
{
    private static readonly string MessagesPath = $"/2010-04-01/Accounts/{TwilioGuardHost.AccountSid}/Messages.json";

    [TestCase("To=%2B14155550199&From=%2B14155550100&Body=%ZZ", "badly encoded")]
    [TestCase("To=%2B14155550199&To=%2B14155550198&From=%2B14155550100&Body=hi", "'To' is sent more than once")]
    [TestCase("From=%2B14155550100&Body=hi", "needs 'To'")]
    [TestCase("To=%2B14155550199&From=%2B14155550100", "needs 'Body', 'MediaUrl' or 'ContentSid'")]
    [TestCase("To=%2B14155550199&Body=hi", "needs 'From' or 'MessagingServiceSid'")]
    [TestCase("To=whatsapp%3A%2B14155550199&From=%2B14155550100&Body=hi", "E.164")]
    [TestCase("To=14155550199&From=%2B14155550100&Body=hi", "E.164")]
    public async Task A_malformed_message_is_denied_clearly_and_costs_nothing(string form, string says)
    {
        await using var host = TwilioGuardHost.Start();
        using var client = host.RawClient();
        using var content = new StringContent(form, Encoding.UTF8, "application/x-www-form-urlencoded");

        using var response = await client.PostAsync(MessagesPath, content);
        using var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var spend = await host.Admin.GetDailySpendAsync(TwilioGuardHost.KeyId);
        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
            Assert.That(error.RootElement.GetProperty("code").GetInt32(), Is.EqualTo(900015));
            Assert.That(error.RootElement.GetProperty("status").GetInt32(), Is.EqualTo(400));
            Assert.That(error.RootElement.GetProperty("message").GetString(), Does.StartWith("keybrake_malformed_request: ").And.Contain(says));
            Assert.That(host.Stub.Received, Is.Empty);
            Assert.That(spend.Reserved + spend.Settled, Is.EqualTo(Usd.Zero));
        });
    }

    [Test]
    public async Task A_json_body_is_denied_because_twilio_takes_forms()
    {
        await using var host = TwilioGuardHost.Start();
        using var client = host.RawClient();
        using var content = new StringContent("""{"To":"+14155550199","Body":"hi"}""", Encoding.UTF8, "application/json");

        using var response = await client.PostAsync(MessagesPath, content);
        Assert.Multiple(async () =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
            Assert.That(await response.Content.ReadAsStringAsync(), Does.Contain("keybrake_malformed_request"));
            Assert.That(host.Stub.Received, Is.Empty);
        });
    }

    [Test]
    public async Task The_sdk_sending_no_body_gets_an_api_exception_not_a_connection_error()
    {
        await using var host = TwilioGuardHost.Start();

        var denied = Assert.ThrowsAsync<ApiException>(() => MessageResource.CreateAsync(
            new CreateMessageOptions(new PhoneNumber("+14155550199")) { From = new PhoneNumber(TwilioGuardHost.Sender) },
            host.Twilio));
        Assert.Multiple(() =>
        {
            Assert.That(denied!.Code, Is.EqualTo(900015));
            Assert.That(host.Stub.Received, Is.Empty);
        });
    }

    [TestCase("X-HTTP-Method-Override")]
    [TestCase("X-Method-Override")]
    public async Task A_method_override_header_through_the_sdk_is_malformed(string header)
    {
        await using var host = TwilioGuardHost.Start();
        var http = host.Services.GetRequiredService<IHttpClientFactory>().CreateClient(KeybrakeTwilioBuilderExtensions.HttpClientName);
        http.DefaultRequestHeaders.Add(header, "DELETE");
        var client = new TwilioRestClient(TwilioGuardHost.AccountSid, TwilioGuardHost.BrakeKey, httpClient: new global::Twilio.Http.SystemNetHttpClient(http));

        var denied = Assert.ThrowsAsync<ApiException>(() => MessageResource.CreateAsync(
            new CreateMessageOptions(new PhoneNumber("+14155550199")) { From = new PhoneNumber(TwilioGuardHost.Sender), Body = "hello" },
            client));

        Assert.Multiple(() =>
        {
            Assert.That(denied!.Code, Is.EqualTo(900015), "malformed_request");
            Assert.That(denied.Message, Does.Contain(header));
            Assert.That(host.Stub.Received, Is.Empty);
        });
    }

    [Test]
    public async Task A_body_larger_than_the_guard_reads_is_denied()
    {
        await using var host = TwilioGuardHost.Start(options: o => o.MaxRequestBodyBytes = 4096);

        var denied = Assert.ThrowsAsync<ApiException>(() => host.SendAsync(new string('x', 5000)));
        Assert.Multiple(() =>
        {
            Assert.That(denied!.Status, Is.EqualTo(413));
            Assert.That(TwilioErrorCodes.ReasonOf(denied.Message), Is.EqualTo(ReasonCodes.RequestTooLarge));
            Assert.That(host.Stub.Received, Is.Empty);
        });
    }

    [Test]
    public async Task A_request_with_the_real_auth_token_instead_of_a_brake_key_is_denied()
    {
        await using var host = TwilioGuardHost.Start();
        using var client = host.RawClient();
        client.DefaultRequestHeaders.Authorization = TwilioGuardHost.TwilioBasicAuthHeader(TwilioGuardHost.AccountSid, "some_real_token_0123456789");
        using var content = new FormUrlEncodedContent([new("To", "+14155550199"), new("From", TwilioGuardHost.Sender), new("Body", "hi")]);

        using var response = await client.PostAsync(MessagesPath, content);
        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
            Assert.That(response.Headers.GetValues(KeybrakeHeaders.Decision), Is.EqualTo(new[] { ReasonCodes.KeyUnknown }));
            Assert.That(host.Stub.Received, Is.Empty);
        });
    }
}
