using Stripe;

namespace Keybrake.Client.Stripe.Tests;

public sealed class MoneyFlowTests
{
    [Test]
    public async Task A_charge_within_the_cap_goes_through_and_settles_at_the_amount_Stripe_returned()
    {
        await using var host = StripeGuardHost.Start();

        var charge = await new ChargeService(host.Stripe).CreateAsync(new ChargeCreateOptions { Amount = 2500, Currency = "usd", Source = "tok_visa" });

        Assert.That(charge.Amount, Is.EqualTo(2500));
        var spend = await host.Admin.GetDailySpendAsync(StripeGuardHost.KeyId);
        Assert.Multiple(() =>
        {
            Assert.That(spend.Settled, Is.EqualTo(Usd.FromDollars(25)));
            Assert.That(spend.Reserved, Is.EqualTo(Usd.Zero));
            Assert.That(host.Stub.Received.Single().Headers["Authorization"], Is.EqualTo("Bearer " + StripeGuardHost.VendorSecret), "the guard swaps the brake key for the real secret");
        });
    }

    [Test]
    public async Task The_settled_amount_comes_from_the_response_not_the_estimate()
    {
        // A refund of a charge Stripe does not know either, with the policy's fallback on, reserves the per-request
        // maximum ($20); the stub refunds the fixture's $1.00 anyway, and that is what settles.
        await using var host = StripeGuardHost.Start(policy =>
        {
            policy.PerRequestMax = Usd.FromDollars(20);
            policy.UnknownObjects = UnknownObjectBehavior.ReservePerRequestMax;
        });

        var refund = await new RefundService(host.Stripe).CreateAsync(new RefundCreateOptions { Charge = "ch_never_seen_by_keybrake" });

        var record = host.Audit.Records.Single();
        var spend = await host.Admin.GetDailySpendAsync(StripeGuardHost.KeyId);
        Assert.Multiple(() =>
        {
            Assert.That(refund.Amount, Is.EqualTo(100));
            Assert.That(record.EstimatedMicroUsd, Is.EqualTo(Usd.FromDollars(20).Micros));
            Assert.That(record.SettledMicroUsd, Is.EqualTo(Usd.FromCents(100).Micros));
            Assert.That(spend.Settled, Is.EqualTo(Usd.FromCents(100)));
            Assert.That(spend.Reserved, Is.EqualTo(Usd.Zero));
        });
    }

    [Test]
    public async Task A_charge_past_the_daily_cap_is_denied_as_a_StripeException_and_never_reaches_Stripe()
    {
        await using var host = StripeGuardHost.Start();
        var charges = new ChargeService(host.Stripe);
        await charges.CreateAsync(new ChargeCreateOptions { Amount = 4000, Currency = "usd", Source = "tok_visa" });
        await charges.CreateAsync(new ChargeCreateOptions { Amount = 4000, Currency = "usd", Source = "tok_visa" });

        var denied = Assert.ThrowsAsync<StripeException>(() =>
            charges.CreateAsync(new ChargeCreateOptions { Amount = 4000, Currency = "usd", Source = "tok_visa" }));

        Assert.Multiple(() =>
        {
            Assert.That(denied!.StripeError.Code, Is.EqualTo("keybrake_daily_cap_exceeded"));
            Assert.That(denied.StripeError.Type, Is.EqualTo("invalid_request_error"));
            Assert.That((int)denied.HttpStatusCode, Is.EqualTo(402));
            Assert.That(denied.StripeResponse.Headers.GetValues(KeybrakeHeaders.Decision), Is.EqualTo(new[] { "daily_cap_exceeded" }));
            Assert.That(host.Stub.Received.Count(r => r.Path == "/v1/charges"), Is.EqualTo(2), "the third charge never left the process");
        });
        var spend = await host.Admin.GetDailySpendAsync(StripeGuardHost.KeyId);
        Assert.That(spend.Committed, Is.EqualTo(Usd.FromDollars(80)));
    }

    [TestCase("jpy", 10_000, 67_000_000L, TestName = "JPY is zero-decimal: 10,000 is ¥10,000, $67.00 at 0.0067")]
    [TestCase("krw", 50_000, 36_500_000L, TestName = "KRW is zero-decimal: 50,000 is ₩50,000, $36.50 at 0.00073")]
    [TestCase("kwd", 12_345, 40_121_250L, TestName = "KWD is three-decimal: 12,345 is 12.345 KWD, $40.12125 at 3.25")]
    [TestCase("bhd", 1_000, 2_650_000L, TestName = "BHD is three-decimal: 1,000 is 1.000 BHD, $2.65 at 2.65")]
    [TestCase("eur", 1_999, 23_188_400L, TestName = "EUR is two-decimal: 1,999 is €19.99, $23.1884 at 1.16")]
    public async Task Amounts_are_converted_with_the_currency_s_real_exponent(string currency, long amount, long expectedMicroUsd)
    {
        await using var host = StripeGuardHost.Start(
            policy => policy.DailyCap = Usd.FromDollars(1000),
            stripe: rates =>
            {
                rates.UsdRates["jpy"] = "0.0067";
                rates.UsdRates["krw"] = "0.00073";
                rates.UsdRates["kwd"] = "3.25";
                rates.UsdRates["bhd"] = "2.65";
                rates.UsdRates["eur"] = "1.16";
            });

        await new ChargeService(host.Stripe).CreateAsync(new ChargeCreateOptions { Amount = amount, Currency = currency, Source = "tok_visa" });

        var record = host.Audit.Records.Single();
        Assert.Multiple(() =>
        {
            Assert.That(record.EstimatedMicroUsd, Is.EqualTo(expectedMicroUsd));
            Assert.That(record.SettledMicroUsd, Is.EqualTo(expectedMicroUsd));
        });
    }

    [Test]
    public async Task A_conversion_that_does_not_land_on_a_micro_dollar_rounds_up()
    {
        await using var host = StripeGuardHost.Start(stripe: rates => rates.UsdRates["jpy"] = "0.00666666");

        await new ChargeService(host.Stripe).CreateAsync(new ChargeCreateOptions { Amount = 1, Currency = "jpy", Source = "tok_visa" });

        // ¥1 at 0.00666666 is 6,666.66 micro-dollars: a reservation may be high by a fraction, never low.
        Assert.That(host.Audit.Records.Single().EstimatedMicroUsd, Is.EqualTo(6_667));
    }

    [Test]
    public async Task A_currency_without_a_rate_is_denied_not_guessed()
    {
        await using var host = StripeGuardHost.Start();

        var denied = Assert.ThrowsAsync<StripeException>(() =>
            new ChargeService(host.Stripe).CreateAsync(new ChargeCreateOptions { Amount = 500, Currency = "xts", Source = "tok_visa" }));

        Assert.Multiple(() =>
        {
            Assert.That(denied!.StripeError.Code, Is.EqualTo("keybrake_unknown_currency"));
            Assert.That(denied.StripeError.Message, Does.Contain("'xts'"));
            Assert.That(host.Stub.Received, Is.Empty);
        });
    }

    [Test]
    public async Task A_refund_without_an_amount_reserves_what_is_left_of_a_charge_Keybrake_knows()
    {
        await using var host = StripeGuardHost.Start(policy => policy.DailyCap = Usd.FromDollars(200));
        var charge = await new ChargeService(host.Stripe).CreateAsync(new ChargeCreateOptions { Amount = 8000, Currency = "usd", Source = "tok_visa" });
        var refunds = new RefundService(host.Stripe);
        await refunds.CreateAsync(new RefundCreateOptions { Charge = charge.Id, Amount = 3000 });

        var rest = await refunds.CreateAsync(new RefundCreateOptions { Charge = charge.Id });

        var last = host.Audit.Records[^1];
        Assert.Multiple(() =>
        {
            Assert.That(rest.Amount, Is.EqualTo(5000));
            Assert.That(last.EstimatedMicroUsd, Is.EqualTo(Usd.FromDollars(50).Micros), "$80 charge minus the $30 already refunded");
            Assert.That(last.SettledMicroUsd, Is.EqualTo(Usd.FromDollars(50).Micros));
        });
    }

    [Test]
    public async Task A_refund_of_the_rest_that_would_pass_the_cap_is_denied_before_it_moves()
    {
        await using var host = StripeGuardHost.Start(policy => policy.DailyCap = Usd.FromDollars(150));
        var charge = await new ChargeService(host.Stripe).CreateAsync(new ChargeCreateOptions { Amount = 8000, Currency = "usd", Source = "tok_visa" });
        await new RefundService(host.Stripe).CreateAsync(new RefundCreateOptions { Charge = charge.Id, Amount = 3000 });

        var denied = Assert.ThrowsAsync<StripeException>(() => new RefundService(host.Stripe).CreateAsync(new RefundCreateOptions { Charge = charge.Id }));

        Assert.Multiple(() =>
        {
            Assert.That(denied!.StripeError.Code, Is.EqualTo("keybrake_daily_cap_exceeded"), "$80 + $30 + the $50 left is more than $150");
            Assert.That(host.Stub.Received.Count(r => r.Path == "/v1/refunds"), Is.EqualTo(1));
        });
    }

    [Test]
    public async Task A_refund_of_an_unknown_charge_without_an_amount_is_denied_when_the_policy_has_no_per_request_maximum()
    {
        // The fallback is on, but there is nothing to fall back to: the cost is unknowable.
        await using var host = StripeGuardHost.Start(policy => policy.UnknownObjects = UnknownObjectBehavior.ReservePerRequestMax);

        var denied = Assert.ThrowsAsync<StripeException>(() => new RefundService(host.Stripe).CreateAsync(new RefundCreateOptions { Charge = "ch_unknown_0001" }));
        var noCurrency = Assert.ThrowsAsync<StripeException>(() => new RefundService(host.Stripe).CreateAsync(new RefundCreateOptions { Charge = "ch_unknown_0002", Amount = 100 }));

        Assert.Multiple(() =>
        {
            Assert.That(denied!.StripeError.Code, Is.EqualTo("keybrake_amount_over_request_limit"));
            Assert.That(denied.StripeError.Message, Does.Contain("PerRequestMax").And.Contain("Stripe has no charge 'ch_unknown_0001'"));
            Assert.That(noCurrency!.StripeError.Code, Is.EqualTo("keybrake_amount_over_request_limit"), "an amount without a currency is an unknowable cost too, not an unknown currency");
            Assert.That(host.Stub.Received.Select(r => r.Method), Is.EqualTo(new[] { "GET", "GET" }), "only the lookups reached Stripe");
        });
    }

    [Test]
    public async Task A_call_over_the_per_request_maximum_is_denied()
    {
        await using var host = StripeGuardHost.Start(policy => policy.PerRequestMax = Usd.FromDollars(50));

        var denied = Assert.ThrowsAsync<StripeException>(() =>
            new ChargeService(host.Stripe).CreateAsync(new ChargeCreateOptions { Amount = 5001, Currency = "usd", Source = "tok_visa" }));

        Assert.Multiple(() =>
        {
            Assert.That(denied!.StripeError.Code, Is.EqualTo("keybrake_amount_over_request_limit"));
            Assert.That((int)denied.HttpStatusCode, Is.EqualTo(402));
            Assert.That(host.Stub.Received, Is.Empty);
        });
    }

    [Test]
    public async Task A_declined_charge_releases_its_reservation()
    {
        await using var host = StripeGuardHost.Start();
        host.Stub.Decline("/v1/charges");

        var declined = Assert.ThrowsAsync<StripeException>(() =>
            new ChargeService(host.Stripe).CreateAsync(new ChargeCreateOptions { Amount = 9000, Currency = "usd", Source = "tok_chargeDeclined" }));

        var spend = await host.Admin.GetDailySpendAsync(StripeGuardHost.KeyId);
        Assert.Multiple(() =>
        {
            Assert.That(declined!.StripeError.Code, Is.EqualTo("card_declined"), "Stripe's own error passes through untouched");
            Assert.That(spend.Committed, Is.EqualTo(Usd.Zero));
            Assert.That(host.Audit.Records.Single().Settlement, Is.EqualTo("release"));
        });
    }

    [Test]
    public async Task A_payment_intent_created_without_confirm_costs_nothing_and_its_later_confirm_reserves_its_amount()
    {
        await using var host = StripeGuardHost.Start();
        var intents = new PaymentIntentService(host.Stripe);

        var intent = await intents.CreateAsync(new PaymentIntentCreateOptions { Amount = 3000, Currency = "usd" });
        var afterCreate = await host.Admin.GetDailySpendAsync(StripeGuardHost.KeyId);
        await intents.ConfirmAsync(intent.Id, new PaymentIntentConfirmOptions { PaymentMethod = "pm_card_visa" });
        var afterConfirm = await host.Admin.GetDailySpendAsync(StripeGuardHost.KeyId);

        Assert.Multiple(() =>
        {
            Assert.That(afterCreate.Committed, Is.EqualTo(Usd.Zero));
            Assert.That(host.Audit.Records[^1].EstimatedMicroUsd, Is.EqualTo(Usd.FromDollars(30).Micros));
            Assert.That(afterConfirm.Settled, Is.EqualTo(Usd.FromDollars(30)));
        });
    }
}
