using System.Text.Json.Nodes;
using Keybrake.Client.TestUtilities;
using Keybrake.Client.TestUtilities.Twilio;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Keybrake.Client.Twilio.Tests;

/// <summary>
/// SMS rates from Twilio's Pricing API v1 (<c>GET pricing.twilio.com/v1/Messaging/Countries/{iso}</c>), served by the
/// stub from Twilio's own fetch example (US: one carrier, mobile at $0.05), asked through the real Twilio SDK's message
/// create. The shipped table says $0.0083 for the US, so every estimate shows which rate it used.
/// </summary>
public sealed class PricingApiTests
{
    private static readonly Usd s_apiRate = Usd.FromCents(5);

    [Test]
    public async Task The_estimate_uses_the_pricing_api_price_and_a_second_message_uses_the_cache()
    {
        await using var host = TwilioGuardHost.Start(twilio: EnablePricing());
        host.Stub.ServeCountryPrices("US");

        await host.SendAsync("Your table is ready");
        var first = await host.Admin.GetDailySpendAsync(TwilioGuardHost.KeyId);
        await host.SendAsync("Your table is still ready");
        var second = await host.Admin.GetDailySpendAsync(TwilioGuardHost.KeyId);

        Assert.Multiple(() =>
        {
            Assert.That(first.Reserved, Is.EqualTo(s_apiRate), "one segment at the API's $0.05, not the table's $0.0083");
            Assert.That(second.Reserved, Is.EqualTo(s_apiRate + s_apiRate));
            Assert.That(host.Stub.PricingRequests, Has.Count.EqualTo(1), "the second message used the cached price");
            Assert.That(host.Audit.Records.Select(r => r.Parameters?["rate_source"]), Is.All.EqualTo("pricing_api"));
        });
    }

    [Test]
    public async Task Concurrent_first_messages_to_a_country_share_one_fetch()
    {
        await using var host = TwilioGuardHost.Start(twilio: EnablePricing());
        host.Stub.ServeCountryPrices("US");

        await Task.WhenAll(Enumerable.Range(0, 8).Select(i => host.SendAsync($"Message {i}")));

        var spend = await host.Admin.GetDailySpendAsync(TwilioGuardHost.KeyId);
        Assert.Multiple(() =>
        {
            Assert.That(spend.Reserved, Is.EqualTo(Usd.FromMicros(8 * s_apiRate.Micros)));
            Assert.That(host.Stub.PricingRequests, Has.Count.EqualTo(1));
        });
    }

    [Test]
    public async Task The_price_is_asked_again_once_the_cache_duration_has_passed()
    {
        await using var host = TwilioGuardHost.Start(twilio: EnablePricing(cache: TimeSpan.FromHours(1)));
        host.Stub.ServeCountryPrices("US");
        await host.SendAsync("one");
        host.Stub.ServeCountryPrices("US", SetPrices("0.06"));

        host.Time.Advance(TimeSpan.FromMinutes(59));
        await host.SendAsync("two: still cached");
        host.Time.Advance(TimeSpan.FromMinutes(1));
        await host.SendAsync("three: refreshed");

        var estimates = host.Audit.Records.Select(r => Usd.FromMicros(r.EstimatedMicroUsd)).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(estimates, Is.EqualTo(new[] { s_apiRate, s_apiRate, Usd.FromCents(6) }));
            Assert.That(host.Stub.PricingRequests, Has.Count.EqualTo(2));
        });
    }

    [Test]
    public async Task The_dearest_carrier_for_the_senders_number_type_is_reserved()
    {
        await using var host = TwilioGuardHost.Start(twilio: EnablePricing());
        host.Stub.ServeCountryPrices("US", country =>
        {
            var carriers = country["outbound_sms_prices"]!.AsArray();
            carriers.Add(new JsonObject
            {
                ["carrier"] = "tmobile",
                ["mcc"] = "310",
                ["mnc"] = "260",
                ["prices"] = new JsonArray(
                    new JsonObject { ["base_price"] = "0.0700", ["current_price"] = "0.0700", ["number_type"] = "mobile" },
                    new JsonObject { ["base_price"] = "0.0100", ["current_price"] = "0.0100", ["number_type"] = "shortcode" }),
            });
        });

        await host.SendAsync("from a long code of unknown type");
        await host.SendAsync("from a short code", from: "898211");

        Assert.That(host.Audit.Records.Select(r => Usd.FromMicros(r.EstimatedMicroUsd)), Is.EqualTo(new[] { Usd.FromCents(7), Usd.FromCents(1) }));
    }

    [Test]
    public async Task A_pricing_500_falls_back_to_the_shipped_table_and_is_logged_once()
    {
        await using var host = TwilioGuardHost.Start(twilio: EnablePricing());
        host.Stub.FailPricing(500);

        await host.SendAsync("one");
        await host.SendAsync("two");

        var spend = await host.Admin.GetDailySpendAsync(TwilioGuardHost.KeyId);
        var warnings = host.Logs.Logs.Where(log => log.EventId.Id == 242).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(spend.Reserved, Is.EqualTo(TwilioGuardHost.UsSegment + TwilioGuardHost.UsSegment));
            Assert.That(host.Stub.MessagesSent, Is.EqualTo(2), "the messages went through on the table's estimate");
            Assert.That(warnings, Has.Count.EqualTo(1), "one warning per failure episode");
            Assert.That(warnings[0].Level, Is.EqualTo(LogLevel.Warning));
            Assert.That(warnings[0].Message, Does.Contain("US").And.Contain("500"));
            Assert.That(host.Audit.Records.Select(r => r.Parameters?["rate_source"]), Is.All.EqualTo("table"));
        });
    }

    [Test]
    public async Task A_pricing_api_that_does_not_answer_within_the_timeout_falls_back_to_the_table()
    {
        await using var host = TwilioGuardHost.Start(twilio: EnablePricing(timeout: TimeSpan.FromSeconds(1)));
        host.Stub.ServeCountryPrices("US");
        host.Stub.HoldPricing();

        var send = host.SendAsync("hello");
        await Poll.UntilAsync(() => Task.FromResult(host.PricingSent.Sent.Count), count => count == 1);
        Assert.That(send.IsCompleted, Is.False, "the message waits for the Pricing API, up to the timeout");
        host.Time.Advance(TimeSpan.FromSeconds(1));
        await send;

        var spend = await host.Admin.GetDailySpendAsync(TwilioGuardHost.KeyId);
        Assert.Multiple(() =>
        {
            Assert.That(spend.Reserved, Is.EqualTo(TwilioGuardHost.UsSegment));
            Assert.That(host.Logs.Logs.Single(log => log.EventId.Id == 242).Message, Does.Contain("did not answer within 1000 ms"));
        });
    }

    [Test]
    public async Task Prices_in_another_currency_are_not_used_and_that_is_logged()
    {
        await using var host = TwilioGuardHost.Start(twilio: EnablePricing());
        host.Stub.ServeCountryPrices("US", country => country["price_unit"] = "EUR");

        await host.SendAsync("hello");

        var spend = await host.Admin.GetDailySpendAsync(TwilioGuardHost.KeyId);
        Assert.Multiple(() =>
        {
            Assert.That(spend.Reserved, Is.EqualTo(TwilioGuardHost.UsSegment));
            Assert.That(host.Logs.Logs.Single(log => log.EventId.Id == 242).Message, Does.Contain("'EUR', not USD"));
        });
    }

    [Test]
    public async Task A_configured_rate_wins_over_the_pricing_api_which_is_then_not_asked()
    {
        await using var host = TwilioGuardHost.Start(twilio: options =>
        {
            EnablePricing()(options);
            options.SegmentRates["US"] = "0.01";
        });
        host.Stub.ServeCountryPrices("US");

        await host.SendAsync("hello");

        Assert.Multiple(() =>
        {
            Assert.That(host.Audit.Records.Single().EstimatedMicroUsd, Is.EqualTo(Usd.FromCents(1).Micros));
            Assert.That(host.Stub.PricingRequests, Is.Empty);
        });
    }

    [Test]
    public async Task Disabled_by_default_the_pricing_api_is_never_asked()
    {
        await using var host = TwilioGuardHost.Start();
        host.Stub.ServeCountryPrices("US");

        await host.SendAsync("hello");

        Assert.Multiple(() =>
        {
            Assert.That(host.Audit.Records.Single().EstimatedMicroUsd, Is.EqualTo(TwilioGuardHost.UsSegment.Micros));
            Assert.That(host.PricingSent.Sent, Is.Empty);
        });
    }

    [Test]
    public async Task The_real_secret_goes_to_the_pricing_host_over_https_and_nowhere_else()
    {
        await using var host = TwilioGuardHost.Start(twilio: EnablePricing());
        host.Stub.ServeCountryPrices("US");

        await host.SendAsync("hello");

        var sent = host.PricingSent.Sent.Single();
        var expected = TwilioGuardHost.TwilioBasicAuthHeader(TwilioGuardHost.AccountSid, TwilioGuardHost.AuthToken).ToString();
        Assert.Multiple(() =>
        {
            Assert.That(sent.Uri.ToString(), Is.EqualTo("https://pricing.twilio.com/v1/Messaging/Countries/US"));
            Assert.That(sent.Authorization, Is.EqualTo(expected), "the account's own credentials: its own prices");
            Assert.That(host.Logs.Logs.Select(log => log.Message), Has.None.Contains(TwilioGuardHost.AuthToken));
            Assert.That(host.Audit.Records.SelectMany(r => r.Parameters?.Values ?? []), Has.None.Contains(TwilioGuardHost.AuthToken));
        });
    }

    [Test]
    public async Task A_key_with_a_stand_in_asks_the_stand_in_for_prices()
    {
        using var standIn = TwilioStub.Start();
        standIn.ServeCountryPrices("US");
        await using var host = TwilioGuardHost.Start(twilio: EnablePricing(), key: k => k.VendorEndpoint = standIn.Url);
        using var client = host.Services.GetRequiredService<IHttpClientFactory>().CreateClient(KeybrakeTwilioBuilderExtensions.HttpClientName);
        client.DefaultRequestHeaders.Authorization = TwilioGuardHost.TwilioBasicAuthHeader(TwilioGuardHost.AccountSid, TwilioGuardHost.BrakeKey);

        using var form = new FormUrlEncodedContent([new("To", "+14155550199"), new("From", TwilioGuardHost.Sender), new("Body", "hello")]);
        using var response = await client.PostAsync(new Uri(new Uri(standIn.Url), $"/2010-04-01/Accounts/{TwilioGuardHost.AccountSid}/Messages.json"), form);

        var sent = host.PricingSent.Sent.Single();
        Assert.Multiple(() =>
        {
            Assert.That((int)response.StatusCode, Is.EqualTo(201));
            Assert.That(sent.Uri.GetLeftPart(UriPartial.Authority), Is.EqualTo(new Uri(standIn.Url).GetLeftPart(UriPartial.Authority)), "the stand-in, not pricing.twilio.com");
            Assert.That(standIn.PricingRequests, Has.Count.EqualTo(1));
            Assert.That(host.Stub.PricingRequests, Is.Empty);
            Assert.That(host.Audit.Records.Single().EstimatedMicroUsd, Is.EqualTo(s_apiRate.Micros));
        });
    }

    [Test]
    public void Invalid_pricing_api_settings_fail_at_start_up_naming_the_field()
    {
        var services = new ServiceCollection();
        services.AddKeybrake().AddTwilio(o =>
        {
            o.PricingApi.Enabled = true;
            o.PricingApi.CacheDuration = TimeSpan.Zero;
            o.PricingApi.Timeout = TimeSpan.FromMinutes(5);
        });
        using var provider = services.BuildServiceProvider();

        var invalid = Assert.Throws<OptionsValidationException>(() => _ = provider.GetRequiredService<IOptions<KeybrakeTwilioOptions>>().Value);
        Assert.Multiple(() =>
        {
            Assert.That(invalid!.Message, Does.Contain("PricingApi:CacheDuration"));
            Assert.That(invalid.Message, Does.Contain("PricingApi:Timeout"));
        });
    }

    private static Action<KeybrakeTwilioOptions> EnablePricing(TimeSpan? cache = null, TimeSpan? timeout = null) => options =>
    {
        options.PricingApi.Enabled = true;
        options.PricingApi.CacheDuration = cache ?? TimeSpan.FromHours(24);
        options.PricingApi.Timeout = timeout ?? TimeSpan.FromSeconds(2);
    };

    private static Action<JsonObject> SetPrices(string currentPrice) => country =>
    {
        foreach (var carrier in country["outbound_sms_prices"]!.AsArray())
        {
            foreach (var price in carrier!["prices"]!.AsArray())
            {
                price!["current_price"] = currentPrice;
            }
        }
    };
}
