using System.Text.Json;
using System.Text.Json.Nodes;
using Keybrake.Client.TestUtilities;
using Stripe;
using WireMock;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Types;
using WireMock.Util;

namespace Keybrake.Client.Stripe.Tests.Lookups;

/// <summary>
/// A support agent refunds charges the web checkout made, so the guard never saw them: it looks each one up at
/// Stripe (the stand-in, answering with Stripe's fixture objects) before deciding, with the real secret.
/// </summary>
public sealed class LookupTests
{
    private const string Allowed = "cus_allowed";

    [Test]
    public async Task A_refund_of_the_rest_of_a_partially_refunded_charge_reserves_exactly_the_rest()
    {
        await using var host = StripeGuardHost.Start(policy => policy.AllowStripeCustomers(Allowed));
        var charge = Checkout.PlantIn(host.Stub, Checkout.Charge("ch_checkout_partial", 5000, customer: Allowed, refunded: 2000));

        var refund = await new RefundService(host.Stripe).CreateAsync(new RefundCreateOptions { Charge = charge });

        var record = host.Audit.Records.Single();
        var lookup = host.Stub.Received.Single(r => r.Method == "GET");
        Assert.Multiple(() =>
        {
            Assert.That(refund.Amount, Is.EqualTo(3000));
            Assert.That(record.EstimatedMicroUsd, Is.EqualTo(Usd.FromDollars(30).Micros), "$50 charged, $20 refunded already: $30 left");
            Assert.That(record.SettledMicroUsd, Is.EqualTo(Usd.FromDollars(30).Micros));
            Assert.That(record.Parameters!["lookup"], Is.EqualTo(charge), "the one record of the call names the object it looked up");
            Assert.That(long.Parse(record.Parameters["lookup_latency_us"], System.Globalization.CultureInfo.InvariantCulture), Is.GreaterThanOrEqualTo(0));
            Assert.That(lookup.Path, Is.EqualTo("/v1/charges/" + charge));
            Assert.That(lookup.Headers["Authorization"], Is.EqualTo("Bearer " + StripeGuardHost.VendorSecret), "the lookup carries the real secret");
            Assert.That(JsonSerializer.Serialize(host.Audit.Records), Does.Not.Contain(StripeGuardHost.VendorSecret));
            Assert.That(host.Logs.Logs.Select(l => l.Message + l.Exception), Has.None.Contains(StripeGuardHost.VendorSecret));
        });
    }

    [Test]
    public async Task A_refund_of_a_charge_in_yen_is_counted_with_the_currency_s_real_exponent()
    {
        await using var host = StripeGuardHost.Start(stripe: o => o.UsdRates["jpy"] = "0.0067");
        var charge = Checkout.PlantIn(host.Stub, Checkout.Charge("ch_checkout_yen", 5000, currency: "jpy"));

        // An amount, but no currency: the charge's currency comes from the lookup. 1,200 yen is 1,200 units, not 12.
        var refund = await new RefundService(host.Stripe).CreateAsync(new RefundCreateOptions { Charge = charge, Amount = 1200 });

        var record = host.Audit.Records.Single();
        Assert.Multiple(() =>
        {
            Assert.That(refund.Amount, Is.EqualTo(1200));
            Assert.That(record.EstimatedMicroUsd, Is.EqualTo(8_040_000), "1,200 JPY at $0.0067");
            Assert.That(record.SettledMicroUsd, Is.EqualTo(8_040_000));
        });
    }

    [Test]
    public async Task A_refund_of_a_charge_for_a_customer_outside_the_allowlist_is_denied_and_never_reaches_Stripe()
    {
        await using var host = StripeGuardHost.Start(policy => policy.AllowStripeCustomers(Allowed));
        var charge = Checkout.PlantIn(host.Stub, Checkout.Charge("ch_checkout_other", 5000, customer: "cus_someone_else"));

        var denied = Assert.ThrowsAsync<StripeException>(() => new RefundService(host.Stripe).CreateAsync(new RefundCreateOptions { Charge = charge, Amount = 500 }));
        var again = Assert.ThrowsAsync<StripeException>(() => new RefundService(host.Stripe).CreateAsync(new RefundCreateOptions { Charge = charge, Amount = 400 }));

        Assert.Multiple(() =>
        {
            Assert.That(denied!.StripeError.Code, Is.EqualTo("keybrake_customer_not_allowed"), denied.Message);
            Assert.That(denied.StripeError.Message, Does.Contain("cus_someone_else"));
            Assert.That(again!.StripeError.Code, Is.EqualTo("keybrake_customer_not_allowed"));
            Assert.That(host.Stub.LookupsOf(charge), Is.EqualTo(1), "remembered at the lookup, though the call it served was denied");
            Assert.That(host.Stub.Received.Where(r => r.Method == "POST"), Is.Empty, "the refund never reached Stripe");
            Assert.That(host.Audit.Records[0].Parameters!["lookup"], Is.EqualTo(charge));
        });
    }

    [Test]
    public async Task A_lookup_that_finds_nothing_denies_naming_the_object_and_says_how_to_opt_in_to_the_fallback()
    {
        await using var host = StripeGuardHost.Start(policy => policy.PerRequestMax = Usd.FromDollars(20));

        var denied = Assert.ThrowsAsync<StripeException>(() => new RefundService(host.Stripe).CreateAsync(new RefundCreateOptions { Charge = "ch_nowhere" }));

        Assert.Multiple(() =>
        {
            Assert.That(denied!.StripeError.Code, Is.EqualTo("keybrake_object_lookup_failed"), denied.Message);
            Assert.That((int)denied.HttpStatusCode, Is.EqualTo(424));
            Assert.That(denied.StripeError.Message, Does.Contain("Stripe has no charge 'ch_nowhere' (404 on lookup)"));
            Assert.That(denied.StripeError.Message, Does.Contain("UnknownObjects").And.Contain("ReservePerRequestMax"));
            Assert.That(host.Stub.Received.Where(r => r.Method == "POST"), Is.Empty);
        });
    }

    [Test]
    public async Task A_lookup_answered_with_a_server_error_denies()
    {
        await using var host = StripeGuardHost.Start();
        host.Stub.Server.Given(Request.Create().WithPath("/v1/charges/ch_flaky").UsingGet()).AtPriority(1)
            .RespondWith(Response.Create().WithStatusCode(503).WithHeader("Content-Type", "application/json")
                .WithBody("""{"error":{"type":"api_error","message":"An unknown error occurred"}}"""));

        var denied = Assert.ThrowsAsync<StripeException>(() => new RefundService(host.Stripe).CreateAsync(new RefundCreateOptions { Charge = "ch_flaky", Amount = 100 }));

        Assert.Multiple(() =>
        {
            Assert.That(denied!.StripeError.Code, Is.EqualTo("keybrake_object_lookup_failed"), denied.Message);
            Assert.That(denied.StripeError.Message, Does.Contain("Stripe answered 503 to the lookup of charge 'ch_flaky'"));
            Assert.That(host.Stub.Received.Where(r => r.Method == "POST"), Is.Empty);
        });
    }

    [Test]
    public async Task A_lookup_that_takes_longer_than_the_lookup_timeout_denies()
    {
        await using var host = StripeGuardHost.Start(options: o => o.LookupTimeout = TimeSpan.FromMilliseconds(200));
        // The stand-in holds its answer (a good one) until the test is done: only the timeout can end the lookup.
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var charge = Checkout.Charge("ch_slow", 1000).ToJsonString();
        host.Stub.Server.Given(Request.Create().WithPath("/v1/charges/ch_slow").UsingGet()).AtPriority(1)
            .RespondWith(Response.Create().WithCallback(async _ =>
            {
                await release.Task;
                return new ResponseMessage
                {
                    StatusCode = 200,
                    Headers = new Dictionary<string, WireMockList<string>> { ["Content-Type"] = new("application/json") },
                    BodyData = new BodyData { BodyAsString = charge, DetectedBodyType = BodyType.String },
                };
            }));

        StripeException? denied;
        try
        {
            var refund = new RefundService(host.Stripe).CreateAsync(new RefundCreateOptions { Charge = "ch_slow", Amount = 100 });

            // The guard's clock is the test's: time moves on until the lookup's timeout has passed.
            await Poll.UntilAsync(
                () =>
                {
                    host.Time.Advance(TimeSpan.FromMilliseconds(100));
                    return refund.IsCompleted;
                },
                completed => completed);
            denied = Assert.ThrowsAsync<StripeException>(() => refund);
        }
        finally
        {
            release.TrySetResult();
        }

        Assert.Multiple(() =>
        {
            Assert.That(denied!.StripeError.Code, Is.EqualTo("keybrake_object_lookup_failed"), denied.Message);
            Assert.That(denied.StripeError.Message, Does.Contain("the lookup of charge 'ch_slow' at Stripe failed: timed out after 200 ms"));
            Assert.That(host.Audit.Records.Single().Parameters!["lookup"], Is.EqualTo("ch_slow"));
        });
    }

    [Test]
    public async Task A_storm_of_refunds_of_one_unknown_charge_looks_it_up_once()
    {
        await using var host = StripeGuardHost.Start();
        var charge = Checkout.PlantIn(host.Stub, Checkout.Charge("ch_checkout_storm", 100_000));
        var refunds = new RefundService(host.Stripe);
        var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        // 8 tasks, 50 refunds; each amount differs so the loop breaker sees different requests.
        var tasks = Enumerable.Range(0, 8).Select(worker => Task.Run(async () =>
        {
            await start.Task;
            var made = new List<Refund>();
            for (var i = worker; i < 50; i += 8)
            {
                made.Add(await refunds.CreateAsync(new RefundCreateOptions { Charge = charge, Amount = 100 + i }));
            }

            return made;
        })).ToArray();
        start.SetResult();
        var made = (await Task.WhenAll(tasks)).SelectMany(r => r).ToList();

        Assert.Multiple(() =>
        {
            Assert.That(made, Has.Count.EqualTo(50));
            Assert.That(host.Stub.LookupsOf(charge), Is.InRange(1, 2), "one lookup (or a bounded few), not 50");
            Assert.That(host.Audit.Records, Has.Count.EqualTo(50), "one record per guarded call; lookups have none of their own");
            Assert.That(host.Audit.Records.Count(r => r.Parameters?.ContainsKey("lookup") == true), Is.InRange(1, 8), "the calls that sent or waited for the lookup say so");
        });
    }

    [Test]
    public async Task A_refund_by_payment_intent_reserves_the_rest_of_its_latest_charge_and_remembers_the_charge_too()
    {
        await using var host = StripeGuardHost.Start(policy => policy.AllowStripeCustomers(Allowed));
        var charge = Checkout.PlantIn(host.Stub, Checkout.Charge("ch_checkout_of_pi", 4000, customer: Allowed, refunded: 1000));
        var intent = Checkout.PlantIn(host.Stub, Checkout.PaymentIntent("pi_checkout_1", 4000, charge, "succeeded", customer: Allowed));
        var refunds = new RefundService(host.Stripe);

        var byIntent = await refunds.CreateAsync(new RefundCreateOptions { PaymentIntent = intent, Amount = 1000 });
        var byCharge = await refunds.CreateAsync(new RefundCreateOptions { Charge = charge });

        var lookups = host.Stub.Received.Where(r => r.Method == "GET").ToList();
        var records = host.Audit.Records;
        Assert.Multiple(() =>
        {
            Assert.That((byIntent.Amount, byCharge.Amount), Is.EqualTo((1000L, 2000L)));
            Assert.That(lookups.Select(r => r.Path), Is.EqualTo(new[] { "/v1/payment_intents/" + intent }));
            Assert.That(records[0].Parameters!["lookup"], Is.EqualTo(intent));
            Assert.That(records[1].EstimatedMicroUsd, Is.EqualTo(Usd.FromDollars(20).Micros), "the charge came with its payment intent: $40 less $10 and $10 refunded");
            Assert.That(records[1].Parameters!.ContainsKey("lookup"), Is.False, "no second lookup");
        });
    }

    [Test]
    public async Task The_legacy_charge_refund_endpoints_look_the_charge_up_too()
    {
        await using var host = StripeGuardHost.Start(policy => policy.AllowStripeCustomers(Allowed));
        var charge = Checkout.PlantIn(host.Stub, Checkout.Charge("ch_checkout_legacy", 3000, customer: Allowed));
        var other = Checkout.PlantIn(host.Stub, Checkout.Charge("ch_checkout_legacy_other", 3000, customer: "cus_someone_else"));
        using var raw = host.RawClient();

        using var refunds = await raw.PostAsync($"/v1/charges/{charge}/refunds", new FormUrlEncodedContent([new("amount", "500")]));
        using var refund = await raw.PostAsync($"/v1/charges/{charge}/refund", new FormUrlEncodedContent([]));
        using var denied = await raw.PostAsync($"/v1/charges/{other}/refund", new FormUrlEncodedContent([]));

        var records = host.Audit.Records;
        Assert.Multiple(() =>
        {
            Assert.That(((int)refunds.StatusCode, (int)refund.StatusCode), Is.EqualTo((200, 200)));
            Assert.That(records[1].EstimatedMicroUsd, Is.EqualTo(Usd.FromDollars(25).Micros), "$30 less the $5 just refunded");
            Assert.That(host.Stub.LookupsOf(charge), Is.EqualTo(1));
            Assert.That(denied.Headers.GetValues("Keybrake-Decision").Single(), Is.EqualTo("customer_not_allowed"));
            Assert.That(host.Stub.Received.Count(r => r.Path == $"/v1/charges/{other}/refund"), Is.Zero);
        });
    }

    [Test]
    public async Task A_capture_of_a_payment_intent_the_guard_never_saw_reserves_its_amount()
    {
        await using var host = StripeGuardHost.Start(policy => policy.AllowStripeCustomers(Allowed));
        var charge = Checkout.Charge("ch_checkout_uncaptured", 2500, customer: Allowed);
        charge["captured"] = false;
        charge["amount_captured"] = 0;
        Checkout.PlantIn(host.Stub, charge);
        var intent = Checkout.PlantIn(host.Stub, Checkout.PaymentIntent("pi_checkout_capture", 2500, "ch_checkout_uncaptured", "requires_capture", customer: Allowed));

        var captured = await new PaymentIntentService(host.Stripe).CaptureAsync(intent);

        var record = host.Audit.Records.Single();
        Assert.Multiple(() =>
        {
            Assert.That(captured.AmountReceived, Is.EqualTo(2500));
            Assert.That(record.EstimatedMicroUsd, Is.EqualTo(Usd.FromDollars(25).Micros));
            Assert.That(record.SettledMicroUsd, Is.EqualTo(Usd.FromDollars(25).Micros));
            Assert.That(record.Parameters!["lookup"], Is.EqualTo(intent));
        });
    }

    [Test]
    public async Task A_refund_of_a_destination_charge_to_an_account_outside_the_allowlist_is_denied()
    {
        await using var host = StripeGuardHost.Start(policy => policy.AllowStripeAccounts("acct_allowed"));
        var outside = Checkout.Charge("ch_checkout_destination", 3000);
        outside["transfer_data"] = new JsonObject { ["amount"] = null, ["destination"] = "acct_elsewhere" };
        var inside = Checkout.Charge("ch_checkout_destination_ok", 3000);
        inside["transfer_data"] = new JsonObject { ["amount"] = null, ["destination"] = "acct_allowed" };
        Checkout.PlantIn(host.Stub, outside);
        Checkout.PlantIn(host.Stub, inside);
        var refunds = new RefundService(host.Stripe);

        var denied = Assert.ThrowsAsync<StripeException>(() => refunds.CreateAsync(new RefundCreateOptions { Charge = "ch_checkout_destination", Amount = 100 }));
        var allowed = await refunds.CreateAsync(new RefundCreateOptions { Charge = "ch_checkout_destination_ok", Amount = 100 });

        Assert.Multiple(() =>
        {
            Assert.That(denied!.StripeError.Code, Is.EqualTo("keybrake_account_not_allowed"), denied.Message);
            Assert.That(denied.StripeError.Message, Does.Contain("acct_elsewhere"));
            Assert.That(allowed.Amount, Is.EqualTo(100));
            Assert.That(host.Stub.Received.Count(r => r.Method == "POST"), Is.EqualTo(1));
        });
    }

    [Test]
    public async Task Lookups_are_not_counted_by_the_rate_limit()
    {
        await using var host = StripeGuardHost.Start(policy => policy.RequestsPerMinute = 3);
        var charges = Enumerable.Range(1, 4).Select(i => Checkout.PlantIn(host.Stub, Checkout.Charge($"ch_checkout_rate_{i}", 1000))).ToList();
        var refunds = new RefundService(host.Stripe);

        // Three refunds, each needing a lookup: six requests to Stripe, three calls by the agent.
        foreach (var charge in charges.Take(3))
        {
            await refunds.CreateAsync(new RefundCreateOptions { Charge = charge, Amount = 100 });
        }

        var fourth = Assert.ThrowsAsync<StripeException>(() => refunds.CreateAsync(new RefundCreateOptions { Charge = charges[3], Amount = 100 }));

        Assert.Multiple(() =>
        {
            Assert.That(host.Stub.Received.Count(r => r.Method == "POST"), Is.EqualTo(3));
            Assert.That(host.Stub.Received.Count(r => r.Method == "GET"), Is.EqualTo(3));
            Assert.That(fourth!.StripeError.Code, Is.EqualTo("keybrake_rate_limited"), "the fourth call, not the second, meets the limit of three");
            Assert.That(host.Stub.LookupsOf(charges[3]), Is.Zero, "a call certain to be rate limited looks nothing up");
        });
    }

    [Test]
    public async Task With_ReservePerRequestMax_a_failed_lookup_reserves_the_per_request_maximum_unless_a_customer_allowlist_applies()
    {
        await using var host = StripeGuardHost.Start(policy =>
        {
            policy.PerRequestMax = Usd.FromDollars(20);
            policy.UnknownObjects = UnknownObjectBehavior.ReservePerRequestMax;
        });
        await using var scoped = StripeGuardHost.Start(
            policy =>
            {
                policy.PerRequestMax = Usd.FromDollars(20);
                policy.UnknownObjects = UnknownObjectBehavior.ReservePerRequestMax;
                policy.AllowStripeCustomers(Allowed);
            },
            stub: host.Stub);

        // The stand-in, like Stripe, refunds a charge it does not know at the fixture's $1.00: that is what settles.
        var refund = await new RefundService(host.Stripe).CreateAsync(new RefundCreateOptions { Charge = "ch_nowhere" });
        var denied = Assert.ThrowsAsync<StripeException>(() => new RefundService(scoped.Stripe).CreateAsync(new RefundCreateOptions { Charge = "ch_nowhere" }));

        var record = host.Audit.Records.Single();
        Assert.Multiple(() =>
        {
            Assert.That(refund.Amount, Is.EqualTo(100));
            Assert.That(record.EstimatedMicroUsd, Is.EqualTo(Usd.FromDollars(20).Micros));
            Assert.That(record.SettledMicroUsd, Is.EqualTo(Usd.FromDollars(1).Micros));
            Assert.That(record.Parameters!["lookup"], Is.EqualTo("ch_nowhere"));
            Assert.That(denied!.StripeError.Code, Is.EqualTo("keybrake_customer_not_allowed"), denied.Message);
            Assert.That(denied.StripeError.Message, Does.Contain("Stripe has no charge 'ch_nowhere'").And.Contain("cannot be checked"));
        });
    }
}
