using Twilio.Exceptions;

namespace Keybrake.Client.Twilio.Tests;

public sealed class ScopeTests
{
    [Test]
    public async Task A_destination_outside_the_allowed_prefixes_is_denied_before_twilio_sees_it()
    {
        await using var host = TwilioGuardHost.Start(policy => policy.AllowTwilioDestinations("+1415", "+1628"));

        var allowed = await host.TrySendAsync("hello", to: "+14155550123");
        var denied = Assert.ThrowsAsync<ApiException>(() => host.SendAsync("hello", to: "+447700900123"));
        Assert.Multiple(() =>
        {
            Assert.That(allowed, Is.Null);
            Assert.That(denied!.Code, Is.EqualTo(900006));
            Assert.That(denied.Status, Is.EqualTo(403));
            Assert.That(TwilioErrorCodes.ReasonOf(denied.Message), Is.EqualTo(ReasonCodes.RecipientNotAllowed));
            Assert.That(denied.Message, Does.Not.Contain("+447700900123"), "the recipient's number is personal data");
            Assert.That(host.Stub.MessagesSent, Is.EqualTo(1));
        });
    }

    [Test]
    public async Task A_sender_not_allowed_is_denied()
    {
        await using var host = TwilioGuardHost.Start(policy => policy.AllowTwilioSenders(TwilioGuardHost.Sender, "MG0123456789abcdef0123456789abcdef"));

        Assert.Multiple(async () =>
        {
            Assert.That(await host.TrySendAsync("hello"), Is.Null);
            Assert.That(await host.TrySendAsync("hello", from: "+14155550999"), Is.EqualTo(ReasonCodes.AccountNotAllowed));
            Assert.That(host.Stub.MessagesSent, Is.EqualTo(1));
        });
    }

    [Test]
    public async Task A_messaging_service_sender_is_checked_against_the_same_allowlist()
    {
        await using var host = TwilioGuardHost.Start(policy => policy.AllowTwilioSenders("MG0123456789abcdef0123456789abcdef"));

        async Task<string?> SendVia(string service)
        {
            try
            {
                await global::Twilio.Rest.Api.V2010.Account.MessageResource.CreateAsync(
                    new global::Twilio.Rest.Api.V2010.Account.CreateMessageOptions(new global::Twilio.Types.PhoneNumber("+14155550199")) { Body = "hi", MessagingServiceSid = service },
                    host.Twilio);
                return null;
            }
            catch (ApiException denied)
            {
                return TwilioErrorCodes.ReasonOf(denied.Message);
            }
        }

        Assert.Multiple(async () =>
        {
            Assert.That(await SendVia("MG0123456789abcdef0123456789abcdef"), Is.Null);
            Assert.That(await SendVia("MGffffffffffffffffffffffffffffffff"), Is.EqualTo(ReasonCodes.AccountNotAllowed));
        });
    }

    [Test]
    public async Task A_message_over_the_segment_limit_is_denied()
    {
        await using var host = TwilioGuardHost.Start(policy => policy.LimitTwilioSegments(2));

        Assert.Multiple(async () =>
        {
            Assert.That(await host.TrySendAsync(new string('a', 306)), Is.Null, "306 septets are two parts");
            Assert.That(await host.TrySendAsync(new string('b', 307)), Is.EqualTo(ReasonCodes.AmountOverRequestLimit));
            Assert.That(host.Stub.MessagesSent, Is.EqualTo(1));
        });
    }

    [Test]
    public async Task A_country_without_a_rate_is_denied_unless_the_key_has_a_default_rate()
    {
        const string Unpriced = "+8613800138000"; // China: no shipped rate
        await using var strict = TwilioGuardHost.Start();
        await using var lenient = TwilioGuardHost.Start(twilio: o => o.Keys[TwilioGuardHost.KeyId] = new KeybrakeTwilioKeyOptions { DefaultSegmentRate = "0.05" });

        var denied = await strict.TrySendAsync("hello", to: Unpriced);
        var allowed = await lenient.TrySendAsync("hello", to: Unpriced);
        var spend = await lenient.Admin.GetDailySpendAsync(TwilioGuardHost.KeyId);
        Assert.Multiple(() =>
        {
            Assert.That(denied, Is.EqualTo(ReasonCodes.RecipientNotAllowed));
            Assert.That(strict.Stub.Received, Is.Empty);
            Assert.That(allowed, Is.Null);
            Assert.That(spend.Reserved, Is.EqualTo(Usd.FromCents(5)));
        });
    }

    [Test]
    public async Task A_caribbean_number_is_not_priced_as_a_us_one()
    {
        await using var host = TwilioGuardHost.Start();
        Assert.That(await host.TrySendAsync("hello", to: "+18765550123"), Is.EqualTo(ReasonCodes.RecipientNotAllowed), "+1 876 is Jamaica, which has no shipped rate");
    }

    [Test]
    public async Task Rates_are_overridable_for_every_key_and_per_key()
    {
        await using var host = TwilioGuardHost.Start(twilio: o =>
        {
            o.SegmentRates["GB"] = "0.04";
            o.Keys[TwilioGuardHost.KeyId] = new KeybrakeTwilioKeyOptions();
            o.Keys[TwilioGuardHost.KeyId].SegmentRates["US"] = "0.01";
        });

        await host.SendAsync("to the UK", to: "+447700900123");
        await host.SendAsync("to the US");
        var spend = await host.Admin.GetDailySpendAsync(TwilioGuardHost.KeyId);
        Assert.That(spend.Reserved, Is.EqualTo(Usd.FromCents(4) + Usd.FromCents(1)));
    }

    [Test]
    public async Task A_call_reserves_the_per_request_maximum_and_is_denied_without_one()
    {
        await using var without = TwilioGuardHost.Start();
        await using var with = TwilioGuardHost.Start(policy => policy.PerRequestMax = Usd.FromCents(50));

        Task Call(TwilioGuardHost host) => global::Twilio.Rest.Api.V2010.Account.CallResource.CreateAsync(
            new global::Twilio.Rest.Api.V2010.Account.CreateCallOptions(new global::Twilio.Types.PhoneNumber("+14155550199"), new global::Twilio.Types.PhoneNumber(TwilioGuardHost.Sender))
            {
                Url = new Uri("https://example.com/twiml"),
            },
            host.Twilio);

        var denied = Assert.ThrowsAsync<ApiException>(() => Call(without));
        await Call(with);
        var spend = await with.Admin.GetDailySpendAsync(TwilioGuardHost.KeyId);
        Assert.Multiple(() =>
        {
            Assert.That(TwilioErrorCodes.ReasonOf(denied!.Message), Is.EqualTo(ReasonCodes.AmountOverRequestLimit));
            Assert.That(spend.Reserved, Is.EqualTo(Usd.FromCents(50)), "a call is priced later, like a message");
        });
    }

    [Test]
    public async Task Endpoint_rules_deny_calls_while_messages_go_through()
    {
        await using var host = TwilioGuardHost.Start(policy =>
        {
            policy.PerRequestMax = Usd.FromCents(50);
            policy.Endpoints.Deny.Add("POST /2010-04-01/Accounts/*/Calls.json");
        });

        var denied = Assert.ThrowsAsync<ApiException>(() => global::Twilio.Rest.Api.V2010.Account.CallResource.CreateAsync(
            new global::Twilio.Rest.Api.V2010.Account.CreateCallOptions(new global::Twilio.Types.PhoneNumber("+14155550199"), new global::Twilio.Types.PhoneNumber(TwilioGuardHost.Sender)) { Url = new Uri("https://example.com/twiml") },
            host.Twilio));
        Assert.Multiple(async () =>
        {
            Assert.That(denied!.Code, Is.EqualTo(900003));
            Assert.That(await host.TrySendAsync("still fine"), Is.Null);
        });
    }
}
