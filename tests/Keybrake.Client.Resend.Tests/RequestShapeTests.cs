using System.Text.Json.Nodes;
using Keybrake.Client.Resend.Tests.Sdk;
using Keybrake.Client.TestUtilities.Resend;

namespace Keybrake.Client.Resend.Tests;

/// <summary>
/// The requests the tests send, as Resend received them through the guard, checked against Resend's own OpenAPI
/// description: so the guard is tested on the shapes Resend and its SDK really use, not on shapes this project made up.
/// </summary>
public sealed class RequestShapeTests
{
    [Test]
    public async Task Sends_and_batches_reach_Resend_in_the_shape_its_OpenAPI_description_gives()
    {
        await using var host = ResendGuardHost.Start();
        await host.Resend.EmailSendAsync(new EmailMessage
        {
            To = ["jane@customer.example"],
            Cc = ["ops@acme.example"],
            Bcc = ["audit@acme.example"],
            ReplyTo = ["support@acme.example"],
            HtmlBody = "<p>Thanks</p>",
            Headers = new() { ["X-Entity-Ref-ID"] = "123" },
        });
        await host.Resend.EmailSendAsync("welcome/123", EmailMessage.To_("jane@customer.example"));
        await host.Resend.EmailBatchAsync([EmailMessage.To_("a@customer.example"), EmailMessage.To_("b@customer.example")]);
        await host.Resend.EmailBatchAsync([EmailMessage.To_("c@customer.example")], "permissive", "batch/7");

        var required = ResendOpenApi.RequiredFields("SendEmailRequest");
        var known = ResendOpenApi.Properties("SendEmailRequest");
        var received = host.Stub.Received;
        Assert.That(received, Has.Count.EqualTo(4));
        foreach (var request in received)
        {
            var template = request.Path;
            var operation = ResendOpenApi.Operation(request.Method, template);
            var emails = request.Body is JsonArray batch ? batch.Select(e => e!.AsObject()).ToList() : [request.Body!.AsObject()];
            Assert.Multiple(() =>
            {
                Assert.That(operation, Is.Not.Null, $"{request.Method} {template} is in Resend's API description");
                Assert.That(ResendOpenApi.RequestSchema(request.Method, template), Is.EqualTo("SendEmailRequest"));
                Assert.That(request.Body is JsonArray, Is.EqualTo(template == "/emails/batch"), "a batch is an array of emails, a send is one");
                Assert.That(ResendOpenApi.HeaderParameters(request.Method, template), Does.Contain("Idempotency-Key"));
                Assert.That(request.Headers["Idempotency-Key"], Has.Length.InRange(1, 256));
                Assert.That(request.Headers["Content-Type"], Does.StartWith("application/json"));
                Assert.That(request.Headers["Authorization"], Is.EqualTo("Bearer " + ResendGuardHost.VendorSecret));
                Assert.That(request.Headers["Accept"], Is.EqualTo("application/json"));
                foreach (var email in emails)
                {
                    Assert.That(required, Is.SubsetOf(email.Select(p => p.Key)), "every required field is sent");
                    Assert.That(email.Select(p => p.Key), Is.SubsetOf(known), "every field is one Resend defines");
                    Assert.That(email["to"], Is.InstanceOf<JsonArray>(), "the SDK sends to as an array");
                }
            });
        }

        Assert.Multiple(() =>
        {
            Assert.That(received[1].Headers["Idempotency-Key"], Is.EqualTo("welcome/123"), "the caller's key is kept");
            Assert.That(received[0].Headers["Idempotency-Key"], Does.StartWith("keybrake-"), "a send without a key gets the guard's own");
            Assert.That(received[2].Headers["x-batch-validation"], Is.EqualTo("strict"));
            Assert.That(received[3].Headers["x-batch-validation"], Is.EqualTo("permissive"));
            Assert.That(received[3].Headers["Idempotency-Key"], Is.EqualTo("batch/7"));
        });
    }

    [Test]
    public void The_OpenAPI_description_says_what_the_profile_assumes()
    {
        Assert.Multiple(() =>
        {
            Assert.That(ResendOpenApi.ServerUrl, Is.EqualTo("https://api.resend.com"));
            Assert.That(KeybrakeGuardResendExtensions.ResendApi, Is.EqualTo(new Uri(ResendOpenApi.ServerUrl + "/")));
            Assert.That(ResendOpenApi.RequiredFields("SendEmailRequest"), Is.EquivalentTo(new[] { "from", "to", "subject" }));
            Assert.That(ResendOpenApi.Properties("SendEmailRequest"), Is.SupersetOf(new[] { "to", "cc", "bcc", "reply_to" }));
            Assert.That(ResendOpenApi.Operation("POST", "/broadcasts/{id}/send"), Is.Not.Null);
            Assert.That(ResendOpenApi.HeaderParameters("POST", "/emails"), Is.EqualTo(new[] { "Idempotency-Key" }));
            Assert.That(ResendOpenApi.HeaderParameters("POST", "/emails/batch"), Is.EqualTo(new[] { "Idempotency-Key" }));
        });
    }
}
