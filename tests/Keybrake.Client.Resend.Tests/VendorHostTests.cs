using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Keybrake.Client.Resend.Tests.Sdk;
using Keybrake.Client.TestUtilities.Http;
using Keybrake.Client.TestUtilities.Resend;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Keybrake.Client.Resend.Tests;

/// <summary>The API key goes only to api.resend.com over https, or to the stand-in a key names; nothing is sent anywhere else.</summary>
public sealed class VendorHostTests
{
    private const string KeyId = "host-mailer";
    private const string BrakeKey = "vault_key_test_host_mailer_00000001";
    private const string Secret = "re_HostCheckedSecretThatMustNeverLeak";

    [Test]
    public async Task The_Resend_client_aimed_at_another_host_is_denied_host_not_allowed_and_nothing_is_sent()
    {
        var network = new RecordingHandler();
        var audit = new RecordingAuditSink();
        await using var keybrake = Guard(audit);
        var resend = new ResendSdkShapedClient(
            Options.Create(new ResendSdkOptions { ApiUrl = "https://attacker.example", ApiToken = BrakeKey }),
            keybrake.CreateResendHttpClient(network));

        var denied = Assert.ThrowsAsync<ResendApiException>(() => resend.EmailSendAsync(EmailMessage.To_("jane@customer.example")));

        Assert.Multiple(() =>
        {
            Assert.That(denied!.Message, Does.Contain("keybrake_host_not_allowed").And.Not.Contain(Secret));
            Assert.That(network.Sent, Is.Empty, "nothing reached the network");
            Assert.That(audit.Records.Single().Host, Is.EqualTo("attacker.example"));
        });
    }

    [TestCase("https://evil.example/emails", TestName = "A raw POST to another host is denied")]
    [TestCase("http://api.resend.com/emails", TestName = "Resend's own host over plain http is denied")]
    [TestCase("https://resend.com/emails", TestName = "Resend's web site is not the API host")]
    [TestCase("https://api.resend.com.evil.example/emails", TestName = "A host that only starts like Resend's is denied")]
    public async Task A_request_the_key_may_not_go_to_is_denied_host_not_allowed_and_nothing_is_sent(string address)
    {
        var network = new RecordingHandler();
        var audit = new RecordingAuditSink();
        await using var keybrake = Guard(audit);
        using var http = keybrake.CreateResendHttpClient(network);
        using var request = new HttpRequestMessage(HttpMethod.Post, address) { Content = JsonContent.Create(EmailMessage.To_("jane@customer.example")) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", BrakeKey);

        using var response = await http.SendAsync(request);

        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Forbidden));
            Assert.That(response.Headers.GetValues(KeybrakeHeaders.Decision).Single(), Is.EqualTo(ReasonCodes.HostNotAllowed));
            Assert.That(network.Sent, Is.Empty, "nothing reached the network");
            Assert.That(audit.Records.Single().Host, Is.EqualTo(new Uri(address).Authority));
        });
    }

    [Test]
    public async Task The_Resend_API_over_https_gets_the_key_and_the_audit_record_names_the_host()
    {
        var network = new RecordingHandler(_ => RecordingHandler.Json(HttpStatusCode.OK, """{"id":"4ef9a417-02e9-4d39-ad75-9611e0fcc33c"}"""));
        var audit = new RecordingAuditSink();
        await using var keybrake = Guard(audit);
        var resend = new ResendSdkShapedClient(Options.Create(new ResendSdkOptions { ApiToken = BrakeKey }), keybrake.CreateResendHttpClient(network));

        await resend.EmailSendAsync(EmailMessage.To_("jane@customer.example"));

        Assert.Multiple(() =>
        {
            Assert.That(network.Sent.Single().Authorization, Is.EqualTo("Bearer " + Secret));
            Assert.That(audit.Records.Single().Host, Is.EqualTo("api.resend.com"));
        });
    }

    [Test]
    public async Task A_key_with_a_VendorEndpoint_sends_its_key_to_that_stand_in_only()
    {
        using var stub = ResendStub.Start();
        var audit = new RecordingAuditSink();
        await using var keybrake = Guard(audit, stub.Url);
        var toStandIn = new ResendSdkShapedClient(Options.Create(new ResendSdkOptions { ApiUrl = stub.Url, ApiToken = BrakeKey }), keybrake.CreateResendHttpClient());
        var toResend = new ResendSdkShapedClient(Options.Create(new ResendSdkOptions { ApiToken = BrakeKey }), keybrake.CreateResendHttpClient());

        await toStandIn.EmailSendAsync(EmailMessage.To_("jane@customer.example"));
        var denied = Assert.ThrowsAsync<ResendApiException>(() => toResend.EmailSendAsync(EmailMessage.To_("jane@customer.example")));

        Assert.Multiple(() =>
        {
            Assert.That(stub.EmailsSent, Is.EqualTo(1));
            Assert.That(stub.Received.Single().Headers["Authorization"], Is.EqualTo("Bearer " + Secret));
            Assert.That(denied!.Message, Does.Contain("keybrake_host_not_allowed"), "the stand-in replaces Resend for this key");
            Assert.That(audit.Records[0].Host, Is.EqualTo(new Uri(stub.Url).Authority));
        });
    }

    private static KeybrakeGuard Guard(RecordingAuditSink audit, string? standIn = null) =>
        KeybrakeGuard.Create(k => k
            .Configure(o => o.AddKey(KeyId, key =>
            {
                key.BrakeKey = BrakeKey;
                key.Vendor = "resend";
                key.VendorSecret = Secret;
                key.VendorEndpoint = standIn;
                key.Policy.DailyCap = Usd.FromDollars(1);
            }))
            .AddAuditSink(audit)
            .AddResend());
}
