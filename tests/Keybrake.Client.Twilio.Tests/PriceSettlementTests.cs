using Keybrake.Client.TestUtilities;
using Keybrake.Client.TestUtilities.Twilio;
using Twilio.Rest.Api.V2010.Account;

namespace Keybrake.Client.Twilio.Tests;

public sealed class PriceSettlementTests
{
    [Test]
    public async Task The_estimate_stays_reserved_until_a_fetch_shows_the_price_then_settles_to_it()
    {
        await using var host = TwilioGuardHost.Start();
        var created = await host.SendAsync("Your table is ready");
        var beforeFetch = await host.Admin.GetDailySpendAsync(TwilioGuardHost.KeyId);

        var fetched = await MessageResource.FetchAsync(created.Sid, client: host.Twilio);
        var afterFetch = await host.Admin.GetDailySpendAsync(TwilioGuardHost.KeyId);
        await MessageResource.FetchAsync(created.Sid, client: host.Twilio);
        var afterSecondFetch = await host.Admin.GetDailySpendAsync(TwilioGuardHost.KeyId);

        Assert.Multiple(() =>
        {
            Assert.That(created.Price, Is.Null, "Twilio prices a message after creating it");
            Assert.That(beforeFetch.Reserved, Is.EqualTo(TwilioGuardHost.UsSegment));
            Assert.That(beforeFetch.Settled, Is.EqualTo(Usd.Zero));
            Assert.That(fetched.Price, Is.EqualTo(TwilioStub.DefaultPrice));
            Assert.That(afterFetch.Reserved, Is.EqualTo(Usd.Zero));
            Assert.That(afterFetch.Settled, Is.EqualTo(Usd.FromMicros(7_500)), "|-0.00750| USD");
            Assert.That(afterSecondFetch, Is.EqualTo(afterFetch), "a price is settled once");
            Assert.That(host.Audit.Records.Select(r => r.Settlement), Is.EqualTo(new[] { "deferred", null, null }));
            Assert.That(host.Audit.Records[1].Message, Does.Contain("settled deferred reservation").And.Contain(created.Sid));
        });
    }

    [Test]
    public async Task A_list_page_settles_every_message_it_shows_priced()
    {
        await using var host = TwilioGuardHost.Start();
        host.Stub.PriceMessagesWith(form => form["Body"] == "pending" ? null : "-0.0100");
        await host.SendAsync("one");
        await host.SendAsync("two");
        await host.SendAsync("pending");

        var page = await MessageResource.ReadAsync(client: host.Twilio);
        var spend = await host.Admin.GetDailySpendAsync(TwilioGuardHost.KeyId);
        Assert.Multiple(() =>
        {
            Assert.That(page.Count(), Is.EqualTo(3));
            Assert.That(spend.Settled, Is.EqualTo(Usd.FromCents(2)));
            Assert.That(spend.Reserved, Is.EqualTo(TwilioGuardHost.UsSegment), "the unpriced one stays reserved at its estimate");
        });
    }

    [Test]
    public async Task A_price_above_the_estimate_settles_at_the_price()
    {
        await using var host = TwilioGuardHost.Start();
        host.Stub.PriceMessagesWith(_ => "-0.02490"); // carrier fees on top of the list price
        var created = await host.SendAsync("hello");
        await MessageResource.FetchAsync(created.Sid, client: host.Twilio);

        var spend = await host.Admin.GetDailySpendAsync(TwilioGuardHost.KeyId);
        Assert.That(spend.Settled, Is.EqualTo(Usd.FromMicros(24_900)));
    }

    [Test]
    public async Task A_twilio_5xx_holds_the_reservation_and_a_4xx_releases_it()
    {
        await using var failing = TwilioGuardHost.Start();
        failing.Stub.Fail("/2010-04-01/Accounts/*/Messages.json", 500);
        await using var refusing = TwilioGuardHost.Start();
        refusing.Stub.Fail("/2010-04-01/Accounts/*/Messages.json", 400, code: 21211);

        Assert.ThrowsAsync<global::Twilio.Exceptions.ApiException>(() => failing.SendAsync("hello"));
        var refused = Assert.ThrowsAsync<global::Twilio.Exceptions.ApiException>(() => refusing.SendAsync("hello"));
        var held = await failing.Admin.GetDailySpendAsync(TwilioGuardHost.KeyId);
        var released = await refusing.Admin.GetDailySpendAsync(TwilioGuardHost.KeyId);
        Assert.Multiple(() =>
        {
            Assert.That(held.Reserved, Is.EqualTo(TwilioGuardHost.UsSegment), "Twilio may have queued it: unknown counts as spent");
            Assert.That(refused!.Code, Is.EqualTo(21211), "Twilio's own errors pass through untouched");
            Assert.That(released.Reserved + released.Settled, Is.EqualTo(Usd.Zero));
        });
    }

    [Test]
    public async Task The_opt_in_price_check_fetches_unpriced_messages_after_the_delay()
    {
        await using var host = TwilioGuardHost.Start(twilio: o =>
        {
            o.PriceReconciliation.Enabled = true;
            o.PriceReconciliation.Delay = TimeSpan.FromMinutes(2);
        });
        await host.SendAsync("Your code is 123456");
        var before = await host.Admin.GetDailySpendAsync(TwilioGuardHost.KeyId);

        // Time moves in steps, so the check's timer ticks; the check runs in the background.
        var after = await Poll.UntilAsync(
            async () =>
            {
                host.Time.Advance(TimeSpan.FromSeconds(30));
                return await host.Admin.GetDailySpendAsync(TwilioGuardHost.KeyId);
            },
            spend => spend.Settled > Usd.Zero);

        Assert.Multiple(() =>
        {
            Assert.That(before.Reserved, Is.EqualTo(TwilioGuardHost.UsSegment));
            Assert.That(after.Settled, Is.EqualTo(Usd.FromMicros(7_500)));
            Assert.That(after.Reserved, Is.EqualTo(Usd.Zero));
            Assert.That(host.Stub.Received.Count(r => r.Method == "GET"), Is.EqualTo(1));
        });
    }
}
