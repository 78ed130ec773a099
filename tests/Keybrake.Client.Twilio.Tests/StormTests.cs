using System.Globalization;
using Twilio.Exceptions;

namespace Keybrake.Client.Twilio.Tests;

public sealed class StormTests
{
    [Test]
    public async Task An_sms_storm_is_stopped_by_the_daily_cap_and_twilio_receives_nothing_past_it()
    {
        // $0.10 a day at $0.0083 a segment: twelve one-segment messages fit, the thirteenth does not.
        await using var host = TwilioGuardHost.Start(policy => policy.DailyCap = Usd.FromCents(10));
        var outcomes = new List<string?>();
        for (var i = 0; i < 40; i++)
        {
            outcomes.Add(await host.TrySendAsync($"Your code is {i.ToString("D6", CultureInfo.InvariantCulture)}"));
        }

        var spend = await host.Admin.GetDailySpendAsync(TwilioGuardHost.KeyId);
        Assert.Multiple(() =>
        {
            Assert.That(outcomes.Take(12), Is.All.Null);
            Assert.That(outcomes.Skip(12), Is.All.EqualTo(ReasonCodes.DailyCapExceeded));
            Assert.That(host.Stub.MessagesSent, Is.EqualTo(12));
            Assert.That(host.Stub.Received, Has.Count.EqualTo(12), "no request at all reached Twilio past the cap");
            Assert.That(spend.Reserved, Is.EqualTo(Usd.FromMicros(12 * 8_300)), "unpriced messages stay reserved at their estimate");
            Assert.That(spend.Reserved + spend.Settled, Is.LessThanOrEqualTo(Usd.FromCents(10)));
        });
    }

    [Test]
    public async Task A_cap_denial_is_the_sdks_ordinary_api_exception_with_a_keybrake_code()
    {
        await using var host = TwilioGuardHost.Start(policy => policy.DailyCap = Usd.Zero);

        var denied = Assert.ThrowsAsync<ApiException>(() => host.SendAsync("hello"));
        Assert.Multiple(() =>
        {
            Assert.That(denied!.Code, Is.EqualTo(900008));
            Assert.That(denied.Status, Is.EqualTo(402));
            Assert.That(denied.Message, Does.StartWith("keybrake_daily_cap_exceeded: "));
            Assert.That(denied.MoreInfo, Does.Contain("#twilio"));
            Assert.That(host.Stub.Received, Is.Empty);
        });
    }

    [Test]
    public async Task The_same_message_sent_over_and_over_is_stopped_by_the_loop_breaker()
    {
        await using var host = TwilioGuardHost.Start(policy => policy.LoopBreaker.MaxRepeats = 3);
        var outcomes = new List<string?>();
        for (var i = 0; i < 6; i++)
        {
            outcomes.Add(await host.TrySendAsync("Your order has shipped"));
        }

        Assert.Multiple(() =>
        {
            Assert.That(outcomes, Is.EqualTo(new[] { null, null, null, ReasonCodes.LoopDetected, ReasonCodes.LoopDetected, ReasonCodes.LoopDetected }));
            Assert.That(host.Stub.MessagesSent, Is.EqualTo(3), "each send has its own idempotency key, so none is mistaken for a retry");
        });
    }

    [Test]
    public async Task Every_denial_carries_the_keybrake_decision_header()
    {
        await using var host = TwilioGuardHost.Start(policy => policy.DailyCap = Usd.Zero);
        using var client = host.RawClient();
        using var body = new FormUrlEncodedContent([new("To", "+14155550199"), new("From", TwilioGuardHost.Sender), new("Body", "hi")]);

        using var response = await client.PostAsync($"/2010-04-01/Accounts/{TwilioGuardHost.AccountSid}/Messages.json", body);
        Assert.Multiple(() =>
        {
            Assert.That((int)response.StatusCode, Is.EqualTo(402));
            Assert.That(response.Headers.GetValues(KeybrakeHeaders.Decision), Is.EqualTo(new[] { ReasonCodes.DailyCapExceeded }));
        });
    }
}
