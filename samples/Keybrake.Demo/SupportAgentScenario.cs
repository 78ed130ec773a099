using System.Globalization;
using Keybrake.Client.Stripe;
using Keybrake.Client.TestUtilities.Stripe;
using Microsoft.Extensions.DependencyInjection;
using Stripe;

namespace Keybrake.Client.Demo;

/// <summary>
/// The third scenario: a support agent refunds orders that the shop's web checkout charged. The checkout talks to
/// Stripe directly, so the guard never saw those charges; it looks each one up at Stripe (once) before deciding,
/// learns its currency, what is left to refund and its customer, and then reserves exactly the refund and checks
/// the customer against the key's allowlist. The key has a $100 daily cap.
/// </summary>
internal static class SupportAgentScenario
{
    private const string KeyId = "support-agent";
    private const string BrakeKey = "vault_key_demo_support_agent_9d41b7e3";
    private const long OrderCents = 4000;

    private static readonly string[] s_shopCustomers = ["cus_shop_ana", "cus_shop_ben", "cus_shop_caro", "cus_shop_dev"];

    public static async Task<bool> RunAsync(TextWriter output)
    {
        using var stripeStandIn = StripeStub.Start();
        var orders = await WebCheckoutAsync(stripeStandIn.Url);

        var services = new ServiceCollection();
        services.AddKeybrake(o => o.AddKey(KeyId, key =>
            {
                key.BrakeKey = BrakeKey;
                key.Vendor = "stripe";
                key.VendorSecret = "sk_test_demo_not_a_real_secret";
                key.VendorEndpoint = stripeStandIn.Url;
                key.Policy.DailyCap = Usd.Parse("100.00");
                key.Policy.AllowStripeCustomers(s_shopCustomers);
                key.Policy.Endpoints.Allow.Add("POST /v1/refunds");
            }))
            .AddStripeClient(o => { o.KeyId = KeyId; o.ApiBase = stripeStandIn.Url; });
        await using var provider = services.BuildServiceProvider();
        var refunds = new RefundService(provider.GetRequiredService<StripeClient>());

        output.WriteLine();
        output.WriteLine("Keybrake demo: a support agent refunds checkout orders it never saw (embedded ledger, one process)");
        output.WriteLine($"Stripe stand-in: {stripeStandIn.Url}. The web checkout charged {orders.Count} orders of {Dollars(OrderCents)} straight at Stripe, not through Keybrake.");
        output.WriteLine($"Key '{KeyId}': daily cap $100.00; refunds only; customers {string.Join(", ", s_shopCustomers)}");
        output.WriteLine("Each charge the guard has not seen is looked up at Stripe once: its currency, what is left to refund, its customer.");
        output.WriteLine();

        var outcomes = new List<AgentCall>();
        async Task Refund(string what, CheckoutOrder order, long? amountCents)
        {
            AgentCall outcome;
            try
            {
                var refund = await refunds.CreateAsync(new RefundCreateOptions { Charge = order.ChargeId, Amount = amountCents });
                outcome = new AgentCall(what, Allowed: true, Reason: null, Amount: refund.Amount);
            }
            catch (StripeException denied) when (denied.StripeError?.Code?.StartsWith("keybrake_", StringComparison.Ordinal) == true)
            {
                outcome = new AgentCall(what, Allowed: false, Reason: denied.StripeError.Code["keybrake_".Length..], Amount: 0);
            }

            outcomes.Add(outcome);
            var verdict = outcome.Allowed ? $"allowed  {Dollars(outcome.Amount),9} refunded" : $"DENIED   {outcome.Reason}";
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"#{outcomes.Count,-3} {what,-50} {verdict}"));
        }

        // The tickets, as a support queue would hand them over. The amounts carry no currency: the lookup supplies it.
        await Refund($"refund {orders[0].Description} in full ({orders[0].Customer})", orders[0], null);
        await Refund($"refund $15.00 of {orders[1].Description} ({orders[1].Customer})", orders[1], 1500);
        await Refund($"refund the rest of {orders[1].Description} ({orders[1].Customer})", orders[1], null);
        await Refund($"refund {orders[2].Description} in full ({orders[2].Customer})", orders[2], null);
        await Refund($"refund $20.00 of {orders[2].Description} ({orders[2].Customer})", orders[2], 2000);
        await Refund($"refund {orders[4].Description} in full ({orders[4].Customer})", orders[4], null);
        await Refund($"refund {orders[3].Description} in full ({orders[3].Customer})", orders[3], null);

        var spend = await provider.GetRequiredService<IKeybrakeAdmin>().GetDailySpendAsync(KeyId);
        var received = stripeStandIn.Received;
        var lookups = received.Count(r => r.Method == "GET" && r.Path.StartsWith("/v1/charges/", StringComparison.Ordinal));
        var lookedUp = received.Where(r => r.Method == "GET" && r.Path.StartsWith("/v1/charges/", StringComparison.Ordinal)).Select(r => r.Path).Distinct(StringComparer.Ordinal).Count();
        var refundsReceived = received.Count(r => r.Method == "POST" && r.Path == "/v1/refunds" && r.Status == 200);
        var refundedCents = stripeStandIn.SumOfRefundedCents();
        var denials = DemoConsole.Denials(outcomes);

        output.WriteLine();
        output.WriteLine("Summary");
        output.WriteLine($"  refunds allowed:  {outcomes.Count(o => o.Allowed)}");
        foreach (var (reason, count) in denials.OrderByDescending(d => d.Value))
        {
            output.WriteLine($"  denied {reason + ":",-26}{count}");
        }

        output.WriteLine($"  USD settled:      {spend.Settled} of the {spend.Cap} daily cap (reserved and unsettled: {spend.Reserved})");
        output.WriteLine($"  Stripe stand-in saw {refundsReceived} refunds ({Dollars(refundedCents)}) and {lookups} lookups of {lookedUp} charges.");

        // Held when: every allowed refund reached Stripe and no more; the day settled exactly what Stripe refunded and
        // stopped at the cap; the other shop's customer was refused; and each charge was looked up once only.
        var held = refundsReceived == outcomes.Count(o => o.Allowed)
            && spend.Settled.Micros == refundedCents * 10_000
            && spend.Settled <= spend.Cap
            && denials.ContainsKey(ReasonCodes.DailyCapExceeded)
            && denials.GetValueOrDefault(ReasonCodes.CustomerNotAllowed) == 1
            && lookups == lookedUp;
        output.WriteLine(held
            ? "The agent refunded charges it never saw, exactly, for its own customers only, and stopped at the cap."
            : "The cap or the customer allowlist did not hold.");
        return held;
    }

    /// <summary>The shop's web checkout: a plain Stripe.net client with its own secret, no guard in between.</summary>
    private static async Task<IReadOnlyList<CheckoutOrder>> WebCheckoutAsync(string apiBase)
    {
        using var http = new HttpClient();
        var checkout = new StripeClient(new StripeClientOptions
        {
            ApiKey = "sk_test_web_checkout_not_a_real_secret",
            ApiBase = apiBase,
            HttpClient = new SystemNetHttpClient(http),
        });
        var charges = new ChargeService(checkout);
        string[] customers = [.. s_shopCustomers, "cus_other_shop_zoe"];
        var orders = new List<CheckoutOrder>();
        for (var i = 0; i < customers.Length; i++)
        {
            var charge = await charges.CreateAsync(new ChargeCreateOptions
            {
                Amount = OrderCents,
                Currency = "usd",
                Customer = customers[i],
                Description = $"Order #{2001 + i}",
            });
            orders.Add(new CheckoutOrder(charge.Id, charge.Description, customers[i]));
        }

        return orders; // the last one is the other shop's customer's
    }

    private static string Dollars(long cents) => string.Create(CultureInfo.InvariantCulture, $"${cents / 100m:0.00}");

    /// <summary>An order the web checkout charged.</summary>
    private sealed record CheckoutOrder(string ChargeId, string Description, string Customer);
}
