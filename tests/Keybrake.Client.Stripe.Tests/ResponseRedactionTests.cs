using System.Text;
using Keybrake.Client.TestUtilities.Http;
using Stripe;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;

namespace Keybrake.Client.Stripe.Tests;

/// <summary>A vendor that echoes the request's Authorization header never hands the secret to Stripe.net.</summary>
public sealed class ResponseRedactionTests
{
    [TestCase(400)]
    [TestCase(401)]
    [TestCase(500)]
    public async Task An_error_that_echoes_the_Authorization_header_reaches_Stripe_net_with_the_secret_redacted(int status)
    {
        await using var host = StripeGuardHost.Start();
        AuthorizationEcho.Answer(host.Stub.Server, "/v1/charges", status, authorization =>
            $$$"""{"error":{"type":"invalid_request_error","message":"Invalid API Key provided: {{{authorization}}}","param":{{{AuthorizationEcho.JsonString(authorization)}}}}}""");

        var error = Assert.ThrowsAsync<StripeException>(() =>
            new ChargeService(host.Stripe).CreateAsync(new ChargeCreateOptions { Amount = 1000, Currency = "usd", Source = "tok_visa" }));

        var echoed = error!.StripeResponse.Headers.GetValues(AuthorizationEcho.EchoHeader).Single();
        Assert.Multiple(() =>
        {
            Assert.That(host.Stub.Received[0].Headers["Authorization"], Is.EqualTo("Bearer " + StripeGuardHost.VendorSecret), "the vendor did get the secret, and echoed it");
            Assert.That(error.Message, Does.Not.Contain(StripeGuardHost.VendorSecret));
            Assert.That(error.Message, Is.EqualTo("Invalid API Key provided: Bearer [redacted]"));
            Assert.That(error.StripeResponse.Content, Does.Not.Contain(StripeGuardHost.VendorSecret).And.Contain("[redacted]"));
            Assert.That(echoed, Is.EqualTo("Bearer [redacted]"));
        });
    }

    [Test]
    public async Task A_large_answer_streamed_past_the_guard_has_the_secret_redacted_and_everything_else_intact()
    {
        await using var host = StripeGuardHost.Start();

        // Over MaxResponseBodyBytes (1 MiB), so the guard does not read it whole: the SDK reads it through the
        // redacting stream, with the secret placed across the stream's 16 KiB reads and at the very end.
        var description = new StringBuilder();
        for (var i = 0; i < 160; i++)
        {
            description.Append('x', (16 * 1024) - 7).Append(StripeGuardHost.VendorSecret);
        }

        var body = $$"""{"object":"list","url":"/v1/customers","has_more":false,"data":[{"id":"cus_1","object":"customer","description":"{{description}}"}]}""";
        host.Stub.Server.Given(Request.Create().WithPath("/v1/customers").UsingGet()).AtPriority(1)
            .RespondWith(Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json").WithBody(body));

        var customers = await new CustomerService(host.Stripe).ListAsync();

        var expected = description.ToString().Replace(StripeGuardHost.VendorSecret, "[redacted]", StringComparison.Ordinal);
        Assert.Multiple(() =>
        {
            Assert.That(Encoding.UTF8.GetByteCount(body), Is.GreaterThan(2 * 1024 * 1024));
            Assert.That(customers.Data.Single().Description, Is.EqualTo(expected));
            Assert.That(customers.StripeResponse.Content, Does.Not.Contain(StripeGuardHost.VendorSecret));
        });
    }

    [Test]
    public async Task A_clean_answer_is_handed_over_untouched()
    {
        await using var host = StripeGuardHost.Start();

        var charge = await new ChargeService(host.Stripe).CreateAsync(new ChargeCreateOptions { Amount = 1000, Currency = "usd", Source = "tok_visa" });

        Assert.Multiple(() =>
        {
            Assert.That(charge.Amount, Is.EqualTo(1000));
            Assert.That(charge.StripeResponse.Content, Does.Not.Contain("[redacted]"));
            Assert.That(host.Logs.Logs.Select(l => l.Message), Has.None.Contains("redacted the vendor secret"));
        });
    }
}
