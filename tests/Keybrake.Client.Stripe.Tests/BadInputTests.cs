using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Stripe;

namespace Keybrake.Client.Stripe.Tests;

public sealed class BadInputTests
{
    [Test]
    public async Task A_body_over_the_size_limit_is_denied_without_being_forwarded()
    {
        await using var host = StripeGuardHost.Start(options: o => o.MaxRequestBodyBytes = 1024);

        var denied = Assert.ThrowsAsync<StripeException>(() => new ChargeService(host.Stripe).CreateAsync(new ChargeCreateOptions
        {
            Amount = 1000,
            Currency = "usd",
            Source = "tok_visa",
            Metadata = new Dictionary<string, string> { ["notes"] = new string('x', 2048) },
        }));

        await AssertNothingMovedAsync(host);
        Assert.Multiple(() =>
        {
            Assert.That(denied!.StripeError.Code, Is.EqualTo("keybrake_request_too_large"));
            Assert.That((int)denied.HttpStatusCode, Is.EqualTo(413));
        });
    }

    [Test]
    public async Task A_streamed_body_of_unknown_length_over_the_limit_is_denied()
    {
        await using var host = StripeGuardHost.Start(options: o => o.MaxRequestBodyBytes = 1024);
        using var raw = host.RawClient();
        var body = new MemoryStream(Encoding.ASCII.GetBytes("amount=100&currency=usd&description=" + new string('y', 5000)));
        using var content = new StreamContent(new NonSeekableStream(body));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/x-www-form-urlencoded");

        using var response = await raw.PostAsync("/v1/charges", content);

        await AssertNothingMovedAsync(host);
        Assert.That(await DecisionOf(response), Is.EqualTo("request_too_large"));
    }

    [TestCase("amount=%ZZ&currency=usd", TestName = "An invalid percent-escape")]
    [TestCase("amount=100&currency=usd&customer=%FF%FE", TestName = "Invalid UTF-8")]
    [TestCase("amount=100&amount=100000&currency=usd", TestName = "The amount twice")]
    [TestCase("amount=-500&currency=usd", TestName = "A negative amount")]
    [TestCase("amount=12.50&currency=usd", TestName = "A decimal amount")]
    [TestCase("amount=99999999999999999999&currency=usd", TestName = "An amount too large for any currency")]
    [TestCase("currency=usd&source=tok_visa", TestName = "No amount")]
    [TestCase("amount=100&source=tok_visa", TestName = "No currency")]
    [TestCase("=100", TestName = "A field without a name")]
    public async Task A_malformed_charge_body_is_denied_as_malformed_request(string body)
    {
        await using var host = StripeGuardHost.Start();
        using var raw = host.RawClient();

        using var response = await raw.PostAsync("/v1/charges", new StringContent(body, Encoding.UTF8, "application/x-www-form-urlencoded"));

        await AssertNothingMovedAsync(host);
        var decision = await DecisionOf(response);
        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
            Assert.That(decision, Is.EqualTo("malformed_request"));
        });
    }

    [Test]
    public async Task A_charge_without_an_amount_through_Stripe_net_is_denied()
    {
        await using var host = StripeGuardHost.Start();

        var denied = Assert.ThrowsAsync<StripeException>(() => new ChargeService(host.Stripe).CreateAsync(new ChargeCreateOptions { Currency = "usd", Source = "tok_visa" }));

        await AssertNothingMovedAsync(host);
        Assert.That(denied!.StripeError.Code, Is.EqualTo("keybrake_malformed_request"));
    }

    [TestCase("application/json", """{"amount":100,"currency":"usd"}""")]
    [TestCase("text/plain", "amount=100&currency=usd")]
    public async Task A_body_that_is_not_form_encoded_on_a_cost_bearing_endpoint_is_denied(string mediaType, string body)
    {
        await using var host = StripeGuardHost.Start();
        using var raw = host.RawClient();

        using var response = await raw.PostAsync("/v1/refunds", new StringContent(body, Encoding.UTF8, mediaType));

        await AssertNothingMovedAsync(host);
        Assert.That(await DecisionOf(response), Is.EqualTo("malformed_request"));
    }

    [TestCase("/v1/pay%6Futs", TestName = "An encoded letter still matches the deny rule")]
    [TestCase("/v1/payouts%2F..%2Fcharges", TestName = "An encoded slash is refused")]
    public async Task Encoded_paths_cannot_slip_past_endpoint_rules(string path)
    {
        await using var host = StripeGuardHost.Start(policy => policy.Endpoints.Deny.Add("* /v1/payouts/**"));
        using var raw = host.RawClient();

        using var response = await raw.PostAsync(path, new StringContent("amount=100&currency=usd", Encoding.UTF8, "application/x-www-form-urlencoded"));

        await AssertNothingMovedAsync(host);
        Assert.That(await DecisionOf(response), Is.AnyOf("endpoint_not_allowed", "malformed_request"));
    }

    [Test]
    public async Task A_request_without_a_brake_key_or_with_the_real_secret_is_denied_as_key_unknown()
    {
        await using var host = StripeGuardHost.Start();
        using var raw = host.RawClient();
        raw.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", StripeGuardHost.VendorSecret);
        using var withSecret = await raw.GetAsync("/v1/customers/cus_1");
        raw.DefaultRequestHeaders.Authorization = null;
        using var withNothing = await raw.GetAsync("/v1/customers/cus_1");
        raw.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "vault_key_never_issued_to_anyone_00");
        using var withUnknown = await raw.GetAsync("/v1/customers/cus_1");

        var decisions = new[] { await DecisionOf(withSecret), await DecisionOf(withNothing), await DecisionOf(withUnknown) };
        Assert.Multiple(() =>
        {
            Assert.That(decisions, Is.All.EqualTo("key_unknown"), "a vendor secret in the SDK would bypass every policy");
            Assert.That(withUnknown.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
            Assert.That(host.Stub.Received, Is.Empty);
        });
    }

    private static async Task AssertNothingMovedAsync(StripeGuardHost host)
    {
        var spend = await host.Admin.GetDailySpendAsync(StripeGuardHost.KeyId);
        Assert.Multiple(() =>
        {
            Assert.That(host.Stub.Received, Is.Empty, "nothing reached Stripe");
            Assert.That(spend.Committed, Is.EqualTo(Usd.Zero), "nothing was reserved");
            Assert.That(host.Audit.Records.Single().Decision, Is.EqualTo("deny"));
        });
    }

    private static async Task<string?> DecisionOf(HttpResponseMessage response)
    {
        var header = response.Headers.TryGetValues(KeybrakeHeaders.Decision, out var values) ? values.Single() : null;
        var body = await response.Content.ReadAsStringAsync();
        Assert.That(body, Does.Contain("\"keybrake_" + header + "\""), "the body carries the same reason as the header");
        return header;
    }

    /// <summary>A stream that cannot tell its length, like a request body being streamed.</summary>
    private sealed class NonSeekableStream(Stream inner) : Stream
    {
        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
