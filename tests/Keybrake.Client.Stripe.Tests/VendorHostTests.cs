using System.Net;
using System.Net.Http.Headers;
using Keybrake.Client.TestUtilities.Http;
using Keybrake.Client.TestUtilities.Logging;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Stripe;

namespace Keybrake.Client.Stripe.Tests;

/// <summary>The real secret goes only to Stripe's own hosts over https, or to the stand-in a key names; nothing is sent anywhere else.</summary>
public sealed class VendorHostTests
{
    private const string KeyId = "host-agent";
    private const string BrakeKey = "vault_key_test_host_agent_000000001";
    private const string Secret = "sk_test_51HostCheckedSecretThatMustNeverLeak";

    [Test]
    public async Task A_Stripe_client_aimed_at_another_host_is_denied_host_not_allowed_and_nothing_is_sent()
    {
        var network = new RecordingHandler();
        var audit = new RecordingAuditSink();
        await using var keybrake = Guard(audit);
        var stripe = new StripeClient(new StripeClientOptions
        {
            ApiKey = BrakeKey,
            ApiBase = "https://attacker.example",
            HttpClient = new SystemNetHttpClient(keybrake.CreateHttpClient("stripe", network)),
        });

        var denied = Assert.ThrowsAsync<StripeException>(() =>
            new ChargeService(stripe).CreateAsync(new ChargeCreateOptions { Amount = 5000, Currency = "usd", Source = "tok_visa" }));

        var record = audit.Records.Single();
        Assert.Multiple(() =>
        {
            Assert.That(denied!.StripeError.Code, Is.EqualTo("keybrake_host_not_allowed"));
            Assert.That(denied.HttpStatusCode, Is.EqualTo(HttpStatusCode.Forbidden));
            Assert.That(denied.Message, Does.Contain("attacker.example").And.Not.Contain(Secret));
            Assert.That(network.Sent, Is.Empty, "nothing reached the network");
            Assert.That(record.Reason, Is.EqualTo(ReasonCodes.HostNotAllowed));
            Assert.That(record.Host, Is.EqualTo("attacker.example"));
        });
    }

    [TestCase("https://evil.example/v1/charges", TestName = "A raw POST to another host is denied")]
    [TestCase("http://api.stripe.com/v1/charges", TestName = "Stripe's own host over plain http is denied")]
    [TestCase("https://api.stripe.com:8443/v1/charges", TestName = "Stripe's own host on another port is denied")]
    [TestCase("https://api.stripe.com.evil.example/v1/charges", TestName = "A host that only starts like Stripe's is denied")]
    [TestCase("https://stripe.com/v1/charges", TestName = "Stripe's web site is not an API host")]
    public async Task A_request_the_secret_may_not_go_to_is_denied_host_not_allowed_and_nothing_is_sent(string address)
    {
        var network = new RecordingHandler();
        var audit = new RecordingAuditSink();
        await using var keybrake = Guard(audit);
        using var http = keybrake.CreateHttpClient("stripe", network);
        using var request = new HttpRequestMessage(HttpMethod.Post, address)
        {
            Content = new FormUrlEncodedContent([new("amount", "5000"), new("currency", "usd"), new("source", "tok_visa")]),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", BrakeKey);

        using var response = await http.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();

        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Forbidden));
            Assert.That(response.Headers.GetValues(KeybrakeHeaders.Decision).Single(), Is.EqualTo(ReasonCodes.HostNotAllowed));
            Assert.That(body, Does.Contain("keybrake_host_not_allowed").And.Not.Contain(Secret));
            Assert.That(network.Sent, Is.Empty, "nothing reached the network");
            Assert.That(audit.Records.Single().Host, Is.EqualTo(new Uri(address).Authority));
        });
    }

    [TestCase("https://api.stripe.com/v1/customers/cus_1")]
    [TestCase("https://files.stripe.com/v1/files/file_1")]
    [TestCase("https://connect.stripe.com/oauth/deauthorize")]
    public async Task Stripe_own_hosts_over_https_get_the_secret_and_the_audit_record_names_the_host(string address)
    {
        var network = new RecordingHandler();
        var audit = new RecordingAuditSink();
        await using var keybrake = Guard(audit);
        using var http = keybrake.CreateHttpClient("stripe", network);
        using var request = new HttpRequestMessage(HttpMethod.Get, address);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", BrakeKey);

        using var response = await http.SendAsync(request);

        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(network.Sent.Single().Authorization, Is.EqualTo("Bearer " + Secret));
            Assert.That(audit.Records.Single().Host, Is.EqualTo(new Uri(address).Host));
        });
    }

    [Test]
    public async Task A_key_with_a_VendorEndpoint_sends_its_secret_to_that_stand_in_only_and_start_up_says_so()
    {
        await using var host = StripeGuardHost.Start();
        var stub = new Uri(host.Stub.Url);

        var charge = await new ChargeService(host.Stripe).CreateAsync(new ChargeCreateOptions { Amount = 1500, Currency = "usd", Source = "tok_visa" });
        using var toStripe = new HttpRequestMessage(HttpMethod.Get, "https://api.stripe.com/v1/customers/cus_1");
        toStripe.Headers.Authorization = new AuthenticationHeaderValue("Bearer", StripeGuardHost.BrakeKey);
        using var denied = await host.RawClient().SendAsync(toStripe);

        var warning = host.Logs.Logs.Where(l => l.Level == LogLevel.Warning && l.Message.Contains("stand-in", StringComparison.Ordinal)).Select(l => l.Message).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(charge.Amount, Is.EqualTo(1500));
            Assert.That(host.Stub.Received.Single().Headers["Authorization"], Is.EqualTo("Bearer " + StripeGuardHost.VendorSecret));
            Assert.That(host.Audit.Records[0].Host, Is.EqualTo(stub.Authority));
            Assert.That(denied.Headers.GetValues(KeybrakeHeaders.Decision).Single(), Is.EqualTo(ReasonCodes.HostNotAllowed), "the stand-in replaces Stripe for this key");
            Assert.That(host.Stub.Received, Has.Count.EqualTo(1));
            Assert.That(warning, Has.Some.Contains($"'{StripeGuardHost.KeyId}'").And.Some.Contains(stub.Authority));
            Assert.That(string.Join("\n", warning), Does.Not.Contain(StripeGuardHost.VendorSecret));
        });
    }

    private static KeybrakeGuard Guard(RecordingAuditSink audit, CapturingLoggerProvider? logs = null) =>
        KeybrakeGuard.Create(k =>
        {
            if (logs is not null)
            {
                k.Services.AddLogging(logging => logging.AddProvider(logs));
            }

            k.Configure(o => o.AddKey(KeyId, key =>
                {
                    key.BrakeKey = BrakeKey;
                    key.Vendor = "stripe";
                    key.VendorSecret = Secret;
                    key.Policy.DailyCap = Usd.FromDollars(1_000);
                }))
                .AddAuditSink(audit)
                .AddStripe();
        });
}
