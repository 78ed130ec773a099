using System.Text;
using System.Text.Json;
using Twilio.Exceptions;
using Twilio.Rest.Api.V2010.Account;

namespace Keybrake.Client.Twilio.Tests;

public sealed class SecretHygieneTests
{
    [Test]
    public async Task Neither_the_auth_token_nor_the_brake_key_appears_in_logs_audit_records_or_exceptions()
    {
        await using var host = TwilioGuardHost.Start(policy =>
        {
            policy.AllowTwilioDestinations("+1415");
            policy.LimitTwilioSegments(1);
        });
        var messages = new List<string>();

        // Allowed, priced later, denied for several reasons, revoked: every path that logs or audits.
        var created = await host.SendAsync("hello");
        await MessageResource.FetchAsync(created.Sid, client: host.Twilio);
        messages.Add(Assert.ThrowsAsync<ApiException>(() => host.SendAsync("hello", to: "+447700900123"))!.Message);
        messages.Add(Assert.ThrowsAsync<ApiException>(() => host.SendAsync(new string('x', 200)))!.Message);
        await host.Admin.RevokeKeyAsync(TwilioGuardHost.KeyId);
        messages.Add(Assert.ThrowsAsync<ApiException>(() => host.SendAsync("hello"))!.Message);

        var logs = string.Join("\n", host.Logs.Logs.Select(l => l.Message + l.Exception));
        var audit = string.Join("\n", host.Audit.Records.Select(r => JsonSerializer.Serialize(r)));
        var everything = string.Join("\n", logs, audit, string.Join("\n", messages));
        var realCredential = "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{TwilioGuardHost.AccountSid}:{TwilioGuardHost.AuthToken}"));
        Assert.Multiple(() =>
        {
            Assert.That(host.Audit.Records, Has.Count.EqualTo(5));
            Assert.That(logs, Does.Contain("Keybrake denied"), "the logs were captured");
            Assert.That(everything, Does.Not.Contain(TwilioGuardHost.AuthToken));
            Assert.That(everything, Does.Not.Contain(TwilioGuardHost.BrakeKey));
            Assert.That(everything, Does.Not.Contain("vault_key_test"));
            Assert.That(everything, Does.Not.Contain("Your"), "message bodies are never audited");
            Assert.That(host.Stub.Received.Select(r => r.Headers["Authorization"]), Is.All.EqualTo(realCredential), "and Twilio never saw a brake key");
        });
    }

    [Test]
    public async Task Audit_parameters_keep_senders_and_counts_and_redact_recipients_and_bodies()
    {
        await using var host = TwilioGuardHost.Start();
        await host.SendAsync("Your code is 424242", media: [new Uri("https://example.com/private.png")]);

        var parameters = host.Audit.Records.Single().Parameters!;
        Assert.Multiple(() =>
        {
            Assert.That(parameters["From"], Is.EqualTo(TwilioGuardHost.Sender));
            Assert.That(parameters["To"], Is.EqualTo(VendorCall.RedactedValue));
            Assert.That(parameters["Body"], Is.EqualTo(VendorCall.RedactedValue));
            Assert.That(parameters["MediaUrl"], Is.EqualTo(VendorCall.RedactedValue));
            Assert.That(parameters["to_country"], Is.EqualTo("US"));
            Assert.That(parameters["media"], Is.EqualTo("1"));
        });
    }
}
