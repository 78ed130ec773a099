using System.Net;
using Keybrake.Client.TestUtilities.Http;
using Keybrake.Client.TestUtilities.Twilio;
using Microsoft.Extensions.DependencyInjection;
using Twilio.Clients;
using Twilio.Rest.Api.V2010.Account;
using Twilio.Types;
using SystemNetHttpClient = Twilio.Http.SystemNetHttpClient;

namespace Keybrake.Client.Twilio.Tests;

/// <summary>The auth token goes only to Twilio's own hosts over https, or to the stand-in a key names; nothing is sent anywhere else.</summary>
public sealed class VendorHostTests
{
    private const string KeyId = "host-agent";

    [TestCase("https://evil.example", TestName = "A raw POST to another host is denied")]
    [TestCase("http://api.twilio.com", TestName = "Twilio's own host over plain http is denied")]
    [TestCase("https://api.twilio.com:8443", TestName = "Twilio's own host on another port is denied")]
    [TestCase("https://api.twilio.com.evil.example", TestName = "A host that only starts like Twilio's is denied")]
    [TestCase("https://eviltwilio.com", TestName = "A host that only ends like Twilio's is denied")]
    [TestCase("https://twilio.com", TestName = "Twilio's web site is not an API host")]
    public async Task A_request_the_token_may_not_go_to_is_denied_host_not_allowed_and_nothing_is_sent(string origin)
    {
        var network = new RecordingHandler();
        var audit = new RecordingAuditSink();
        await using var keybrake = Guard(audit);
        using var http = keybrake.CreateHttpClient("twilio", network);

        using var response = await http.SendAsync(MessageRequest(origin));
        var body = await response.Content.ReadAsStringAsync();

        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Forbidden));
            Assert.That(response.Headers.GetValues(KeybrakeHeaders.Decision).Single(), Is.EqualTo(ReasonCodes.HostNotAllowed));
            Assert.That(body, Does.Contain("keybrake_host_not_allowed").And.Not.Contain(TwilioGuardHost.AuthToken));
            Assert.That(network.Sent, Is.Empty, "nothing reached the network");
            Assert.That(audit.Records.Single().Host, Is.EqualTo(new Uri(origin).Authority));
        });
    }

    [TestCase("https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages/SM1.json")]
    [TestCase("https://messaging.twilio.com/v1/Services")]
    [TestCase("https://pricing.twilio.com/v2/Voice/Countries/US")]
    [TestCase("https://api.sydney.au1.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages/SM1.json")]
    public async Task Twilio_product_and_regional_hosts_over_https_get_the_token(string address)
    {
        var network = new RecordingHandler();
        var audit = new RecordingAuditSink();
        await using var keybrake = Guard(audit);
        using var http = keybrake.CreateHttpClient("twilio", network);
        using var request = new HttpRequestMessage(HttpMethod.Get, address);
        request.Headers.Authorization = TwilioGuardHost.TwilioBasicAuthHeader(TwilioGuardHost.AccountSid, TwilioGuardHost.BrakeKey);

        using var response = await http.SendAsync(request);

        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(network.Sent.Single().Authorization, Is.EqualTo(TwilioGuardHost.TwilioBasicAuthHeader(TwilioGuardHost.AccountSid, TwilioGuardHost.AuthToken).ToString()));
            Assert.That(audit.Records.Single().Host, Is.EqualTo(new Uri(address).Host));
        });
    }

    [Test]
    public async Task The_Twilio_SDK_with_an_edge_and_a_region_reaches_Twilio_through_the_guard()
    {
        var network = new RecordingHandler(_ => RecordingHandler.Json(HttpStatusCode.Created, TwilioFixtures.CreatedMessage().ToJsonString()));
        var audit = new RecordingAuditSink();
        await using var keybrake = Guard(audit);
        var twilio = new TwilioRestClient(
            TwilioGuardHost.AccountSid, TwilioGuardHost.BrakeKey, region: "au1", edge: "sydney",
            httpClient: new SystemNetHttpClient(keybrake.CreateHttpClient("twilio", network)));

        await MessageResource.CreateAsync(new CreateMessageOptions(new PhoneNumber("+14155550199")) { From = new PhoneNumber(TwilioGuardHost.Sender), Body = "hi" }, twilio);

        Assert.Multiple(() =>
        {
            Assert.That(network.Sent.Single().Uri.Host, Is.EqualTo("api.sydney.au1.twilio.com"));
            Assert.That(audit.Records.Single().Host, Is.EqualTo("api.sydney.au1.twilio.com"));
            Assert.That(audit.Records.Single().Decision, Is.EqualTo("allow"));
        });
    }

    [Test]
    public async Task A_key_with_a_VendorEndpoint_sends_its_token_to_that_stand_in_only()
    {
        using var stub = TwilioStub.Start();
        var audit = new RecordingAuditSink();
        await using var keybrake = Guard(audit, stub.Url);
        using var http = keybrake.CreateHttpClient("twilio");

        using var toStandIn = await http.SendAsync(MessageRequest(stub.Url));
        using var toTwilio = await http.SendAsync(MessageRequest("https://api.twilio.com"));

        Assert.Multiple(() =>
        {
            Assert.That(toStandIn.StatusCode, Is.EqualTo(HttpStatusCode.Created));
            Assert.That(stub.MessagesSent, Is.EqualTo(1));
            Assert.That(toTwilio.Headers.GetValues(KeybrakeHeaders.Decision).Single(), Is.EqualTo(ReasonCodes.HostNotAllowed), "the stand-in replaces Twilio for this key");
            Assert.That(audit.Records[0].Host, Is.EqualTo(new Uri(stub.Url).Authority));
        });
    }

    private static HttpRequestMessage MessageRequest(string origin)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, $"{origin.TrimEnd('/')}/2010-04-01/Accounts/{TwilioGuardHost.AccountSid}/Messages.json")
        {
            Content = new FormUrlEncodedContent([new("To", "+14155550199"), new("From", TwilioGuardHost.Sender), new("Body", "hi")]),
        };
        request.Headers.Authorization = TwilioGuardHost.TwilioBasicAuthHeader(TwilioGuardHost.AccountSid, TwilioGuardHost.BrakeKey);
        return request;
    }

    private static KeybrakeGuard Guard(RecordingAuditSink audit, string? standIn = null) =>
        KeybrakeGuard.Create(k => k
            .Configure(o => o.AddKey(KeyId, key =>
            {
                key.BrakeKey = TwilioGuardHost.BrakeKey;
                key.Vendor = "twilio";
                key.VendorSecret = TwilioGuardHost.AuthToken;
                key.VendorEndpoint = standIn;
                key.Policy.DailyCap = Usd.FromDollars(1);
            }))
            .AddAuditSink(audit)
            .AddTwilio());
}
