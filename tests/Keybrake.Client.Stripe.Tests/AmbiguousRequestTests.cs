using System.Net;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Stripe;

namespace Keybrake.Client.Stripe.Tests;

/// <summary>
/// Requests the vendor could read differently from the guard: a method override, a body on a read, and a field
/// the guard reads spelt another way (in the query string, in another case, in array form).
/// </summary>
public sealed class AmbiguousRequestTests
{
    [TestCase("X-HTTP-Method-Override")]
    [TestCase("X-HTTP-Method")]
    [TestCase("X-Method-Override")]
    public async Task A_method_override_header_through_Stripe_net_is_malformed(string header)
    {
        await using var host = StripeGuardHost.Start();
        var http = host.Services.GetRequiredService<IHttpClientFactory>().CreateClient(KeybrakeStripeBuilderExtensions.HttpClientName);
        http.DefaultRequestHeaders.Add(header, "DELETE");
        var stripe = new StripeClient(new StripeClientOptions { ApiKey = StripeGuardHost.BrakeKey, ApiBase = host.Stub.Url, HttpClient = new SystemNetHttpClient(http) });

        var denied = Assert.ThrowsAsync<StripeException>(() => new CustomerService(stripe).GetAsync("cus_1"));

        Assert.Multiple(() =>
        {
            Assert.That(denied!.StripeError.Code, Is.EqualTo("keybrake_malformed_request"));
            Assert.That(denied.StripeError.Message, Does.Contain(header));
            Assert.That(host.Stub.Received, Is.Empty, "nothing reached Stripe");
        });
    }

    [TestCase("GET")]
    [TestCase("HEAD")]
    public async Task A_read_with_a_body_is_malformed(string method)
    {
        await using var host = StripeGuardHost.Start();
        using var raw = host.RawClient();
        using var request = new HttpRequestMessage(new HttpMethod(method), "/v1/customers/cus_1")
        {
            Content = new StringContent("amount=100", Encoding.UTF8, "application/x-www-form-urlencoded"),
        };

        using var response = await raw.SendAsync(request);

        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
            Assert.That(response.Headers.GetValues(KeybrakeHeaders.Decision).Single(), Is.EqualTo("malformed_request"));
            Assert.That(host.Stub.Received, Is.Empty);
        });
    }

    [TestCase("/V1/PAYOUTS")]
    [TestCase("/v1/Payouts/")]
    [TestCase("/v1//payOuts")]
    public async Task A_deny_rule_holds_for_the_path_in_another_case(string path)
    {
        await using var host = StripeGuardHost.Start(policy => policy.Endpoints.Deny.Add("* /v1/payouts/**"));
        using var raw = host.RawClient();

        using var response = await raw.PostAsync(path, new StringContent("amount=100&currency=usd", Encoding.UTF8, "application/x-www-form-urlencoded"));

        Assert.Multiple(() =>
        {
            Assert.That(response.Headers.GetValues(KeybrakeHeaders.Decision).Single(), Is.EqualTo("endpoint_not_allowed"));
            Assert.That(host.Stub.Received, Is.Empty);
        });
    }

    [Test]
    public async Task Reads_and_writes_without_a_body_or_override_still_go_through()
    {
        await using var host = StripeGuardHost.Start();
        using var raw = host.RawClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/customers/cus_1") { Content = new ByteArrayContent([]) };

        using var emptyBody = await raw.SendAsync(request);
        var customer = await new CustomerService(host.Stripe).GetAsync("cus_2");

        Assert.Multiple(() =>
        {
            Assert.That(emptyBody.StatusCode, Is.EqualTo(HttpStatusCode.OK), "an empty body is no body");
            Assert.That(customer.Id, Is.EqualTo("cus_2"));
        });
    }

    [TestCase("/v1/charges?amount=1", "amount=100000&currency=usd&source=tok_visa", TestName = "The amount in the query string")]
    [TestCase("/v1/charges?currency=jpy", "amount=1000&currency=usd&source=tok_visa", TestName = "The currency in the query string")]
    [TestCase("/v1/charges?Customer=cus_other", "amount=1000&currency=usd&customer=cus_123", TestName = "The customer in the query string, in another case")]
    [TestCase("/v1/charges?amount%5B%5D=1", "amount=1000&currency=usd", TestName = "An encoded array amount in the query string")]
    [TestCase("/v1/charges?amount=%ZZ", "amount=1000&currency=usd", TestName = "An unreadable query string")]
    [TestCase("/v1/charges", "amount=1000&Amount=100000&currency=usd", TestName = "Amount in another case in the body")]
    [TestCase("/v1/charges", "amount=1000&amount[]=100000&currency=usd", TestName = "Amount in array form in the body")]
    [TestCase("/v1/charges", "amount=1000&amount[0]=100000&currency=usd", TestName = "Amount in indexed form in the body")]
    [TestCase("/v1/charges", "amount=1000&currency=usd&CURRENCY[]=jpy", TestName = "Currency in both case and array form in the body")]
    [TestCase("/v1/refunds", "charge=ch_1&Charge=ch_2", TestName = "The charge in another case")]
    [TestCase("/v1/payment_intents", "amount=1000&currency=usd&Confirm=true", TestName = "The flag that makes a call cost money, in another case")]
    public async Task A_field_the_guard_reads_spelt_another_way_on_a_money_endpoint_is_malformed(string path, string body)
    {
        await using var host = StripeGuardHost.Start();
        using var raw = host.RawClient();

        using var response = await raw.PostAsync(path, new StringContent(body, Encoding.UTF8, "application/x-www-form-urlencoded"));

        var spend = await host.Admin.GetDailySpendAsync(StripeGuardHost.KeyId);
        Assert.Multiple(() =>
        {
            Assert.That(response.Headers.GetValues(KeybrakeHeaders.Decision).Single(), Is.EqualTo("malformed_request"));
            Assert.That(host.Stub.Received, Is.Empty, "nothing reached Stripe");
            Assert.That(spend.Committed, Is.EqualTo(Usd.Zero));
        });
    }

    [TestCase("Amount")]
    [TestCase("amount[]")]
    [TestCase("CUSTOMER")]
    public async Task A_read_field_spelt_another_way_through_Stripe_net_is_malformed(string name)
    {
        await using var host = StripeGuardHost.Start();
        var options = new ChargeCreateOptions { Amount = 1000, Currency = "usd", Source = "tok_visa" };
        options.AddExtraParam(name, "100000");

        var denied = Assert.ThrowsAsync<StripeException>(() => new ChargeService(host.Stripe).CreateAsync(options));

        Assert.Multiple(() =>
        {
            Assert.That(denied!.StripeError.Code, Is.EqualTo("keybrake_malformed_request"));
            Assert.That(host.Stub.Received, Is.Empty);
        });
    }

    [Test]
    public async Task Other_fields_in_the_query_or_in_array_form_are_left_alone()
    {
        await using var host = StripeGuardHost.Start();
        using var raw = host.RawClient();
        var options = new ChargeCreateOptions { Amount = 1000, Currency = "usd", Source = "tok_visa", Expand = ["customer", "balance_transaction"] };

        var charge = await new ChargeService(host.Stripe).CreateAsync(options);
        using var listed = await raw.GetAsync("/v1/charges?customer=cus_123&limit=3");

        Assert.Multiple(() =>
        {
            Assert.That(charge.Amount, Is.EqualTo(1000), "expand[] is an array field the guard does not read");
            Assert.That(listed.Headers.Contains(KeybrakeHeaders.Decision), Is.False, "a read's query string is not a money endpoint's");
        });
    }
}
