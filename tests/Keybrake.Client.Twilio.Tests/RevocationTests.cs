using Twilio.Exceptions;

namespace Keybrake.Client.Twilio.Tests;

public sealed class RevocationTests
{
    [Test]
    public async Task A_revoked_key_is_denied_at_once_and_restoring_it_lets_messages_through_again()
    {
        await using var host = TwilioGuardHost.Start();
        Assert.That(await host.TrySendAsync("before"), Is.Null);

        await host.Admin.RevokeKeyAsync(TwilioGuardHost.KeyId);
        var denied = Assert.ThrowsAsync<ApiException>(() => host.SendAsync("while revoked"));
        await host.Admin.RestoreKeyAsync(TwilioGuardHost.KeyId);

        Assert.Multiple(async () =>
        {
            Assert.That(denied!.Code, Is.EqualTo(900001));
            Assert.That(denied.Status, Is.EqualTo(401));
            Assert.That(TwilioErrorCodes.ReasonOf(denied.Message), Is.EqualTo(ReasonCodes.KeyRevoked));
            Assert.That(await host.TrySendAsync("after"), Is.Null);
            Assert.That(host.Stub.MessagesSent, Is.EqualTo(2));
        });
    }
}
