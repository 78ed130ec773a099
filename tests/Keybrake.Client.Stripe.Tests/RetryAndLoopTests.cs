using System.Net.Http.Headers;
using System.Text;
using Stripe;

namespace Keybrake.Client.Stripe.Tests;

public sealed class RetryAndLoopTests
{
    [Test]
    public async Task Stripe_net_s_own_retry_after_a_500_reserves_once_and_settles_once()
    {
        await using var host = StripeGuardHost.Start();
        host.Stub.FailOnce("/v1/charges", 500);

        var charge = await new ChargeService(host.Stripe).CreateAsync(new ChargeCreateOptions { Amount = 4200, Currency = "usd", Source = "tok_visa" });

        var attempts = host.Stub.Received;
        var records = host.Audit.Records;
        var spend = await host.Admin.GetDailySpendAsync(StripeGuardHost.KeyId);
        var unsettled = await host.Admin.ListUnsettledAsync();
        Assert.Multiple(() =>
        {
            Assert.That(charge.Amount, Is.EqualTo(4200));
            Assert.That(attempts.Select(a => a.Status), Is.EqualTo(new[] { 500, 200 }));
            Assert.That(attempts[1].Headers["Idempotency-Key"], Is.EqualTo(attempts[0].Headers["Idempotency-Key"]));
            Assert.That(records.Select(r => r.Settlement), Is.EqualTo(new[] { "hold", "commit" }), "the 500 held the reservation, the retry committed it");
            Assert.That(records.Select(r => r.ReservationId).Distinct().Count(), Is.EqualTo(1), "one reservation for both attempts");
            Assert.That(spend.Settled, Is.EqualTo(Usd.FromDollars(42)));
            Assert.That(spend.Reserved, Is.EqualTo(Usd.Zero));
            Assert.That(unsettled, Is.Empty);
        });
    }

    [Test]
    public async Task A_500_that_is_never_retried_stays_counted_as_spent_and_listed_until_an_operator_resolves_it()
    {
        await using var host = StripeGuardHost.Start();
        host.Stub.FailOnce("/v1/charges", 500);
        var noRetries = new StripeClient(new StripeClientOptions
        {
            ApiKey = StripeGuardHost.BrakeKey,
            ApiBase = host.Stub.Url,
            HttpClient = new SystemNetHttpClient(host.RawClient(), maxNetworkRetries: 0),
        });

        Assert.ThrowsAsync<StripeException>(() => new ChargeService(noRetries).CreateAsync(new ChargeCreateOptions { Amount = 6000, Currency = "usd", Source = "tok_visa" }));

        var unsettled = await host.Admin.ListUnsettledAsync(StripeGuardHost.KeyId);
        var held = await host.Admin.GetDailySpendAsync(StripeGuardHost.KeyId);
        Assert.Multiple(() =>
        {
            Assert.That(unsettled, Has.Count.EqualTo(1));
            Assert.That(unsettled[0].Estimate, Is.EqualTo(Usd.FromDollars(60)));
            Assert.That(held.Reserved, Is.EqualTo(Usd.FromDollars(60)), "unknown is treated as spent");
        });

        await host.Admin.ResolveReservationAsync(unsettled[0].ReservationId, actual: null);
        var resolved = await host.Admin.GetDailySpendAsync(StripeGuardHost.KeyId);
        var left = await host.Admin.ListUnsettledAsync();
        Assert.Multiple(() =>
        {
            Assert.That(resolved.Committed, Is.EqualTo(Usd.Zero));
            Assert.That(left, Is.Empty);
        });
    }

    [Test]
    public async Task The_loop_breaker_trips_on_the_fourth_identical_refund_within_the_window()
    {
        await using var host = StripeGuardHost.Start(policy => policy.DailyCap = Usd.FromDollars(1000));
        var charge = await new ChargeService(host.Stripe).CreateAsync(new ChargeCreateOptions { Amount = 10_000, Currency = "usd", Source = "tok_visa" });
        var refunds = new RefundService(host.Stripe);
        var sameRefund = new RefundCreateOptions { Charge = charge.Id, Amount = 100 };

        for (var i = 0; i < 3; i++)
        {
            await refunds.CreateAsync(sameRefund); // each with a fresh Idempotency-Key, as an agent's loop sends them
        }

        var fourth = Assert.ThrowsAsync<StripeException>(() => refunds.CreateAsync(sameRefund));
        var different = await refunds.CreateAsync(new RefundCreateOptions { Charge = charge.Id, Amount = 101 });

        Assert.Multiple(() =>
        {
            Assert.That(fourth!.StripeError.Code, Is.EqualTo("keybrake_loop_detected"));
            Assert.That((int)fourth.HttpStatusCode, Is.EqualTo(429));
            Assert.That(different.Amount, Is.EqualTo(101), "a different request is not a repeat");
            Assert.That(host.Stub.Received.Count(r => r.Path == "/v1/refunds"), Is.EqualTo(4));
        });
    }

    [Test]
    public async Task The_window_slides_with_the_clock()
    {
        await using var host = StripeGuardHost.Start(policy =>
        {
            policy.DailyCap = Usd.FromDollars(1000);
            policy.LoopBreaker.Window = TimeSpan.FromSeconds(30);
        });
        var charges = new ChargeService(host.Stripe);
        var same = new ChargeCreateOptions { Amount = 100, Currency = "usd", Source = "tok_visa" };
        for (var i = 0; i < 3; i++)
        {
            await charges.CreateAsync(same);
        }

        Assert.ThrowsAsync<StripeException>(() => charges.CreateAsync(same));
        host.Time.Advance(TimeSpan.FromSeconds(31));
        var later = await charges.CreateAsync(same);

        Assert.That(later.Amount, Is.EqualTo(100));
    }

    [Test]
    public async Task A_retry_with_the_same_Idempotency_Key_is_not_a_repeat_and_reserves_nothing_new()
    {
        await using var host = StripeGuardHost.Start();
        var charges = new ChargeService(host.Stripe);
        var options = new ChargeCreateOptions { Amount = 2000, Currency = "usd", Source = "tok_visa" };
        var requestOptions = new RequestOptions { IdempotencyKey = "order-42-charge" };

        for (var i = 0; i < 5; i++)
        {
            await charges.CreateAsync(options, requestOptions);
        }

        var spend = await host.Admin.GetDailySpendAsync(StripeGuardHost.KeyId);
        Assert.Multiple(() =>
        {
            Assert.That(spend.Committed, Is.EqualTo(Usd.FromDollars(20)), "Stripe replays an idempotent request; no new money moves");
            Assert.That(host.Audit.Records.Select(r => r.Settlement), Is.EqualTo(new[] { "commit", "replay", "replay", "replay", "replay" }));
        });
    }

    [Test]
    public async Task An_Idempotency_Key_reused_for_a_different_request_is_denied()
    {
        await using var host = StripeGuardHost.Start();
        var charges = new ChargeService(host.Stripe);
        var requestOptions = new RequestOptions { IdempotencyKey = "reused-key" };
        await charges.CreateAsync(new ChargeCreateOptions { Amount = 2000, Currency = "usd", Source = "tok_visa" }, requestOptions);

        var denied = Assert.ThrowsAsync<StripeException>(() =>
            charges.CreateAsync(new ChargeCreateOptions { Amount = 9000, Currency = "usd", Source = "tok_visa" }, requestOptions));

        Assert.Multiple(() =>
        {
            Assert.That(denied!.StripeError.Code, Is.EqualTo("keybrake_malformed_request"));
            Assert.That(denied.StripeError.Message, Does.Contain("reused-key"));
            Assert.That(host.Stub.Received, Has.Count.EqualTo(1));
        });
    }

    [Test]
    public async Task Requests_per_minute_are_limited_per_key()
    {
        await using var host = StripeGuardHost.Start(policy => policy.RequestsPerMinute = 2);
        var customers = new CustomerService(host.Stripe);

        await customers.GetAsync("cus_1");
        await customers.GetAsync("cus_2");
        var third = Assert.ThrowsAsync<StripeException>(() => customers.GetAsync("cus_3"));
        host.Time.Advance(TimeSpan.FromMinutes(1));
        await customers.GetAsync("cus_4");

        Assert.Multiple(() =>
        {
            Assert.That(third!.StripeError.Code, Is.EqualTo("keybrake_rate_limited"));
            Assert.That(host.Stub.Received, Has.Count.EqualTo(3));
        });
    }

    [Test]
    public async Task A_raw_retry_with_the_same_key_after_a_release_reserves_again()
    {
        // A declined call releases its reservation; the same Idempotency-Key sent again (Stripe replays the
        // decline) must not leave a stale reservation behind either way.
        await using var host = StripeGuardHost.Start();
        host.Stub.Decline("/v1/charges");
        using var raw = host.RawClient();

        for (var i = 0; i < 2; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/charges")
            {
                Content = new StringContent("amount=3000&currency=usd&source=tok_visa", Encoding.UTF8, new MediaTypeHeaderValue("application/x-www-form-urlencoded")),
            };
            request.Headers.Add("Idempotency-Key", "declined-once");
            using var response = await raw.SendAsync(request);
            Assert.That((int)response.StatusCode, Is.EqualTo(402));
        }

        var spend = await host.Admin.GetDailySpendAsync(StripeGuardHost.KeyId);
        Assert.That(spend.Committed, Is.EqualTo(Usd.Zero));
    }
}
