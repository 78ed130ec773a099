using System.Text.Json;
using Keybrake.Client.Resend.Tests.Sdk;

namespace Keybrake.Client.Resend.Tests;

public sealed class SecretHygieneTests
{
    [Test]
    public async Task Neither_the_Resend_key_nor_the_brake_key_nor_an_address_appears_in_logs_audit_records_or_exception_messages()
    {
        await using var host = ResendGuardHost.Start(policy =>
        {
            policy.AllowResendRecipientDomains("customer.example");
            policy.LimitResendRecipients(perEmail: 2);
            policy.Endpoints.Deny.Add("POST /broadcasts/**");
        });
        host.Stub.FailOnce("/emails", 500);
        var messages = new List<string>();

        // Sent, failed upstream, denied by scope, limits, rules and revocation: every path that logs or audits.
        messages.Add(Assert.ThrowsAsync<ResendApiException>(() => host.Resend.EmailSendAsync(EmailMessage.To_("jane.secretname@customer.example")))!.Message);
        await host.Resend.EmailSendAsync(new EmailMessage { To = ["jane.secretname@customer.example"], Subject = "Password reset for jane.secretname" });
        messages.Add(Assert.ThrowsAsync<ResendApiException>(() => host.Resend.EmailSendAsync(EmailMessage.To_("joe.private@competitor.example")))!.Message);
        messages.Add(Assert.ThrowsAsync<ResendApiException>(() => host.Resend.EmailSendAsync(EmailMessage.To_("a.private@customer.example", "b.private@customer.example", "c.private@customer.example")))!.Message);
        messages.Add(Assert.ThrowsAsync<ResendApiException>(() => host.Resend.EmailSendAsync(EmailMessage.To_("joe.private@customer.example, x.private@competitor.example")))!.Message);
        messages.Add(Assert.ThrowsAsync<ResendApiException>(() => host.Resend.BroadcastSendAsync(Guid.NewGuid()))!.Message);
        await host.Admin.RevokeKeyAsync(ResendGuardHost.KeyId);
        messages.Add(Assert.ThrowsAsync<ResendApiException>(() => host.Resend.EmailSendAsync(EmailMessage.To_("jane.secretname@customer.example")))!.Message);

        var logs = string.Join("\n", host.Logs.Logs.Select(l => l.Message + l.Exception));
        var audit = string.Join("\n", host.Audit.Records.Select(r => JsonSerializer.Serialize(r)));
        var everything = string.Join("\n", logs, audit, string.Join("\n", messages));
        Assert.Multiple(() =>
        {
            Assert.That(host.Audit.Records, Has.Count.EqualTo(7));
            Assert.That(logs, Does.Contain("Keybrake denied"), "the logs were captured");
            Assert.That(everything, Does.Not.Contain(ResendGuardHost.VendorSecret));
            Assert.That(everything, Does.Not.Contain(ResendGuardHost.BrakeKey));
            Assert.That(everything, Does.Not.Contain("re_Real"));
            Assert.That(everything, Does.Not.Contain("vault_key_test"));
            Assert.That(everything, Does.Not.Contain("secretname").And.Not.Contain(".private@"), "no recipient address, no subject");
            Assert.That(host.Stub.Received.Select(r => r.Headers["Authorization"]), Is.All.EqualTo("Bearer " + ResendGuardHost.VendorSecret), "and Resend never saw a brake key");
        });
    }
}
