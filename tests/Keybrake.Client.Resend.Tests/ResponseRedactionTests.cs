using Keybrake.Client.Resend.Tests.Sdk;
using Keybrake.Client.TestUtilities.Http;

namespace Keybrake.Client.Resend.Tests;

/// <summary>A vendor that echoes the request's Authorization header never hands the API key to the Resend client.</summary>
public sealed class ResponseRedactionTests
{
    [TestCase(400, "validation_error")]
    [TestCase(401, "missing_api_key")]
    [TestCase(500, "application_error")]
    public async Task An_error_that_echoes_the_Authorization_header_reaches_the_Resend_client_with_the_key_redacted(int status, string name)
    {
        await using var host = ResendGuardHost.Start();
        AuthorizationEcho.Answer(host.Stub.Server, "/emails", status, authorization =>
            $$"""{"statusCode":{{status}},"name":"{{name}}","message":"API key is invalid: {{authorization}}"}""");

        var error = Assert.ThrowsAsync<ResendApiException>(() => host.Resend.EmailSendAsync(EmailMessage.To_("jane@customer.example")));

        Assert.Multiple(() =>
        {
            Assert.That(host.Stub.Received[0].Headers["Authorization"], Is.EqualTo("Bearer " + ResendGuardHost.VendorSecret), "Resend did get the key, and echoed it");
            Assert.That(error!.Message, Does.Not.Contain(ResendGuardHost.VendorSecret));
            Assert.That(error.Message, Is.EqualTo("API key is invalid: Bearer [redacted]"));
            Assert.That(error.ErrorName, Is.EqualTo(name));
        });
    }
}
