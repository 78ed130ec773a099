using Keybrake.Client.Resend.Tests.Sdk;

namespace Keybrake.Client.Resend.Tests;

public sealed class RevocationTests
{
    [Test]
    public async Task A_revoked_key_is_denied_on_the_very_next_send_and_works_again_once_restored()
    {
        await using var host = ResendGuardHost.Start();
        await host.Resend.EmailSendAsync(EmailMessage.To_("jane@customer.example"));

        await host.Admin.RevokeKeyAsync(ResendGuardHost.KeyId);
        var denied = Assert.ThrowsAsync<ResendApiException>(() => host.Resend.EmailSendAsync(EmailMessage.To_("jane@customer.example")));
        var deniedRead = Assert.ThrowsAsync<ResendApiException>(() => host.Resend.DomainListAsync());
        await host.Admin.RestoreKeyAsync(ResendGuardHost.KeyId);
        await host.Resend.EmailSendAsync(EmailMessage.To_("jane@customer.example"));

        Assert.Multiple(() =>
        {
            Assert.That(denied!.Decision, Is.EqualTo(ReasonCodes.KeyRevoked));
            Assert.That(denied.ErrorName, Is.EqualTo("invalid_api_key"));
            Assert.That((int?)denied.StatusCode, Is.EqualTo(401));
            Assert.That(denied.Message, Does.StartWith("keybrake_key_revoked: "));
            Assert.That(deniedRead!.Decision, Is.EqualTo(ReasonCodes.KeyRevoked));
            Assert.That(host.Stub.EmailsSent, Is.EqualTo(2));
        });
    }
}
