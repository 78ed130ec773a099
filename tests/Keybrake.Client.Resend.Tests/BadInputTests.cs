using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Keybrake.Client.Resend.Tests.Sdk;

namespace Keybrake.Client.Resend.Tests;

public sealed class BadInputTests
{
    [TestCase("/emails", "", TestName = "An empty body")]
    [TestCase("/emails", "{\"from\":\"a@acme.example\",\"to\":[\"jane@customer.example\"]", TestName = "Truncated JSON")]
    [TestCase("/emails", "{'to':'jane@customer.example'}", TestName = "Single quotes")]
    [TestCase("/emails", "{\"to\":\"jane@customer.example\",}", TestName = "A trailing comma")]
    [TestCase("/emails", "{\"to\":\"jane@customer.example\" /* comment */}", TestName = "A comment")]
    [TestCase("/emails", "{\"to\":\"jane@customer.example\",\"to\":\"evil@competitor.example\"}", TestName = "The same field twice")]
    [TestCase("/emails", "[{\"to\":\"jane@customer.example\"}]", TestName = "An array where one email belongs")]
    [TestCase("/emails", "{\"to\":42}", TestName = "A number as recipient")]
    [TestCase("/emails", "{\"to\":[\"jane@customer.example\",{\"email\":\"x@y.example\"}]}", TestName = "An object among recipients")]
    [TestCase("/emails", "{\"to\":\"jane@customer.example\",\"cc\":{\"a\":1}}", TestName = "An object as cc")]
    [TestCase("/emails", "{\"to\":[],\"subject\":\"x\"}", TestName = "No recipient")]
    [TestCase("/emails", "{\"subject\":\"x\",\"bcc\":\"jane@customer.example\"}", TestName = "No to, only bcc")]
    [TestCase("/emails/batch", "{\"to\":\"jane@customer.example\"}", TestName = "An object where a batch belongs")]
    [TestCase("/emails/batch", "[]", TestName = "An empty batch")]
    [TestCase("/emails/batch", "[{\"to\":\"jane@customer.example\"},\"x\"]", TestName = "A string among a batch's emails")]
    [TestCase("/emails", "null", TestName = "JSON null")]
    [TestCase("/emails", "{\"to\":\"\\uD800jane@customer.example\"}", TestName = "A lone surrogate escape in to (found by ParserProperties)")]
    [TestCase("/emails/batch", "[{\"to\":[\"jane@customer.example\"],\"bcc\":[\"x\\uDC00@customer.example\"]}]", TestName = "A lone surrogate escape in a batch's bcc")]
    public async Task A_malformed_JSON_body_is_denied_as_malformed_request_and_nothing_is_sent(string path, string body)
    {
        await using var host = ResendGuardHost.Start();
        using var raw = host.RawClient();

        using var response = await raw.PostAsync(path, new StringContent(body, Encoding.UTF8, "application/json"));

        await AssertDeniedAsync(host, response, ReasonCodes.MalformedRequest, HttpStatusCode.BadRequest);
    }

    [Test]
    public async Task Invalid_UTF_8_in_the_body_is_denied()
    {
        await using var host = ResendGuardHost.Start();
        using var raw = host.RawClient();
        var bytes = Encoding.UTF8.GetBytes("{\"to\":\"jane@customer.example\",\"subject\":\"X\"}");
        bytes[^4] = 0xFF;
        using var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");

        using var response = await raw.PostAsync("/emails", content);

        await AssertDeniedAsync(host, response, ReasonCodes.MalformedRequest, HttpStatusCode.BadRequest);
    }

    [TestCase("text/plain")]
    [TestCase("application/x-www-form-urlencoded")]
    [TestCase(null)]
    public async Task A_send_that_is_not_JSON_is_denied(string? mediaType)
    {
        await using var host = ResendGuardHost.Start();
        using var raw = host.RawClient();
        using var content = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(EmailMessage.To_("jane@customer.example")));
        content.Headers.ContentType = mediaType is null ? null : new MediaTypeHeaderValue(mediaType);

        using var response = await raw.PostAsync("/emails", content);

        var body = await AssertDeniedAsync(host, response, ReasonCodes.MalformedRequest, HttpStatusCode.BadRequest);
        Assert.That(body, Does.Contain("application/json"));
    }

    [Test]
    public async Task A_body_over_the_size_limit_is_denied_as_request_too_large()
    {
        await using var host = ResendGuardHost.Start(options: o => o.MaxRequestBodyBytes = 4096);

        var denied = Assert.ThrowsAsync<ResendApiException>(() =>
            host.Resend.EmailSendAsync(new EmailMessage { To = ["jane@customer.example"], HtmlBody = new string('x', 10_000) }));

        var spend = await host.SpendAsync();
        Assert.Multiple(() =>
        {
            Assert.That(denied!.Decision, Is.EqualTo(ReasonCodes.RequestTooLarge));
            Assert.That(denied.ErrorName, Is.EqualTo("validation_error"));
            Assert.That((int?)denied.StatusCode, Is.EqualTo(413));
            Assert.That(host.Stub.Received, Is.Empty);
            Assert.That(spend.Committed, Is.EqualTo(Usd.Zero));
        });
    }

    [Test]
    public async Task A_batch_validation_mode_Resend_does_not_know_is_denied()
    {
        await using var host = ResendGuardHost.Start();

        var denied = Assert.ThrowsAsync<ResendApiException>(() => host.Resend.EmailBatchAsync([EmailMessage.To_("jane@customer.example")], "lenient"));

        Assert.Multiple(() =>
        {
            Assert.That(denied!.Decision, Is.EqualTo(ReasonCodes.MalformedRequest));
            Assert.That(host.Stub.Received, Is.Empty);
        });
    }

    [Test]
    public async Task A_request_carrying_the_real_Resend_key_or_no_key_is_denied_as_key_unknown()
    {
        await using var host = ResendGuardHost.Start();
        using var raw = host.RawClient();
        raw.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", ResendGuardHost.VendorSecret);
        using var withSecret = await raw.PostAsync("/emails", JsonContentOf(EmailMessage.To_("jane@customer.example")));
        raw.DefaultRequestHeaders.Authorization = null;
        using var withNothing = await raw.GetAsync("/domains");

        Assert.Multiple(() =>
        {
            Assert.That(Decision(withSecret), Is.EqualTo(ReasonCodes.KeyUnknown), "a vendor secret in the SDK would bypass every policy");
            Assert.That(Decision(withNothing), Is.EqualTo(ReasonCodes.KeyUnknown));
            Assert.That(withSecret.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
            Assert.That(host.Stub.Received, Is.Empty);
        });
    }

    private static StringContent JsonContentOf(EmailMessage email) => new(JsonSerializer.Serialize(email), Encoding.UTF8, "application/json");

    private static string? Decision(HttpResponseMessage response) =>
        response.Headers.TryGetValues(KeybrakeHeaders.Decision, out var values) ? values.Single() : null;

    private static async Task<string> AssertDeniedAsync(ResendGuardHost host, HttpResponseMessage response, string reason, HttpStatusCode status)
    {
        var body = await response.Content.ReadAsStringAsync();
        var error = JsonDocument.Parse(body).RootElement;
        var spend = await host.SpendAsync();
        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(status));
            Assert.That(Decision(response), Is.EqualTo(reason));
            Assert.That(error.GetProperty("statusCode").GetInt32(), Is.EqualTo((int)status));
            Assert.That(error.GetProperty("name").GetString(), Is.EqualTo("validation_error"));
            Assert.That(error.GetProperty("message").GetString(), Does.StartWith($"keybrake_{reason}: "));
            Assert.That(host.Stub.Received, Is.Empty, "nothing reached Resend");
            Assert.That(spend.Committed, Is.EqualTo(Usd.Zero), "nothing was reserved");
            Assert.That(host.Audit.Records.Single().Decision, Is.EqualTo("deny"));
        });
        return body;
    }
}
