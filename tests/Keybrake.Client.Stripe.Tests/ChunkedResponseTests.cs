using Keybrake.Client.TestUtilities.Stripe;
using Microsoft.Extensions.DependencyInjection;
using Stripe;

namespace Keybrake.Client.Stripe.Tests;

/// <summary>
/// Responses of unknown length (chunked, no Content-Length) through the real Stripe.net client: the guard
/// reads what it may, and the SDK always gets the whole body.
/// </summary>
public sealed class ChunkedResponseTests
{
    private const int OutcomeUnreadableEvent = 7;

    [Test]
    public async Task A_chunked_2_MB_response_over_the_read_limit_reaches_the_SDK_whole_and_settles_at_the_estimate()
    {
        await using var standIn = await ChunkedStripeStandIn.StartAsync(approximateBytes: 2 * 1024 * 1024, amount: 1234);
        await using var host = StripeGuardHost.Start(options: o => SendTo(o, standIn));

        var charge = await new ChargeService(ClientFor(host, standIn)).CreateAsync(new ChargeCreateOptions { Amount = 1234, Currency = "usd", Source = "tok_visa" });

        var record = host.Audit.Records.Single();
        Assert.Multiple(() =>
        {
            Assert.That(standIn.Body, Has.Length.GreaterThan(2 * 1024 * 1024));
            Assert.That(charge.StripeResponse.Content, Is.EqualTo(standIn.Body), "the SDK read every byte the vendor sent");
            Assert.That(charge.Refunds.Data, Has.Count.EqualTo(standIn.RefundCount));
            Assert.That(record.Settlement, Is.EqualTo("commit"));
            Assert.That(record.SettledMicroUsd, Is.EqualTo(12_340_000), "a response too large to read settles at the estimate");
            Assert.That(host.Logs.Logs.Count(l => l.EventId.Id == OutcomeUnreadableEvent), Is.EqualTo(1));
        });
    }

    [Test]
    public async Task A_chunked_response_within_the_read_limit_is_read_by_the_guard_and_by_the_SDK()
    {
        await using var standIn = await ChunkedStripeStandIn.StartAsync(approximateBytes: 100 * 1024, amount: 1234);
        await using var host = StripeGuardHost.Start(options: o => SendTo(o, standIn));

        var charge = await new ChargeService(ClientFor(host, standIn)).CreateAsync(new ChargeCreateOptions { Amount = 1234, Currency = "usd", Source = "tok_visa" });

        var record = host.Audit.Records.Single();
        Assert.Multiple(() =>
        {
            Assert.That(charge.StripeResponse.Content, Is.EqualTo(standIn.Body));
            Assert.That(charge.Refunds.Data, Has.Count.EqualTo(standIn.RefundCount));
            Assert.That(record.Settlement, Is.EqualTo("commit"));
            Assert.That(record.SettledMicroUsd, Is.EqualTo(12_340_000));
            Assert.That(host.Logs.Logs.Where(l => l.EventId.Id == OutcomeUnreadableEvent), Is.Empty, "the guard read the whole answer");
        });
    }

    /// <summary>The key's secret goes to this stand-in rather than the host's own: the override names it.</summary>
    private static void SendTo(KeybrakeOptions options, ChunkedStripeStandIn standIn)
    {
        options.MaxResponseBodyBytes = 1024 * 1024;
        options.Keys[StripeGuardHost.KeyId].VendorEndpoint = standIn.Url;
    }

    private static StripeClient ClientFor(StripeGuardHost host, ChunkedStripeStandIn standIn) =>
        new(new StripeClientOptions
        {
            ApiKey = StripeGuardHost.BrakeKey,
            ApiBase = standIn.Url,
            HttpClient = new SystemNetHttpClient(host.Services.GetRequiredService<IHttpClientFactory>().CreateClient(KeybrakeStripeBuilderExtensions.HttpClientName)),
        });
}
