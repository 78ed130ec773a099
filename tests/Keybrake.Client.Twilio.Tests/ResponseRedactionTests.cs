using Keybrake.Client.TestUtilities.Http;
using Twilio.Exceptions;

namespace Keybrake.Client.Twilio.Tests;

/// <summary>A vendor that echoes the request's Basic credential never hands the token to the Twilio SDK, raw or base64.</summary>
public sealed class ResponseRedactionTests
{
    [TestCase(400)]
    [TestCase(401)]
    [TestCase(500)]
    public async Task An_error_that_echoes_the_credential_reaches_the_Twilio_SDK_with_the_token_redacted_in_both_forms(int status)
    {
        await using var host = TwilioGuardHost.Start();
        AuthorizationEcho.Answer(host.Stub.Server, "/2010-04-01/Accounts/*/Messages.json", status, authorization =>
            $$"""{"code":20003,"message":"Authenticate: {{authorization}} (token {{AuthorizationEcho.BasicPassword(authorization)}})","more_info":"https://www.twilio.com/docs/errors/20003","status":{{status}}}""");
        var wire = TwilioGuardHost.TwilioBasicAuthHeader(TwilioGuardHost.AccountSid, TwilioGuardHost.AuthToken).Parameter!;

        var error = Assert.ThrowsAsync<ApiException>(() => host.SendAsync("hello"));

        Assert.Multiple(() =>
        {
            Assert.That(host.Stub.Received.Single().Headers["Authorization"], Is.EqualTo("Basic " + wire), "Twilio did get the token, and echoed it");
            Assert.That(error!.Message, Does.Not.Contain(TwilioGuardHost.AuthToken));
            Assert.That(error.Message, Does.Not.Contain(wire));
            Assert.That(error.Message, Is.EqualTo("Authenticate: Basic [redacted] (token [redacted])"));
            Assert.That(error.Status, Is.EqualTo(status));
        });
    }
}
