// A runaway refund agent, stopped by Keybrake.
//
// A stand-in for the Stripe API starts on a loopback port (WireMock.Net serving Stripe's own fixture
// objects). A checkout process takes eight $25 orders. Then an "agent" that should refund one order
// has a bug: it refunds every order in a tight loop, ignores every error and retries, and finally tries
// a payout. Its Stripe.net client carries the Keybrake guard with a $100 daily cap and an endpoint
// allowlist that blocks payouts (see appsettings.json). Keybrake stops it at exactly $100.
using Keybrake.Client;
using Keybrake.Client.Demo;
using Keybrake.Client.TestUtilities.Stripe;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

using var stripeStandIn = StripeStub.Start();
var configuration = new ConfigurationBuilder()
    .SetBasePath(AppContext.BaseDirectory)
    .AddJsonFile("appsettings.json")
    .Build();

var services = new ServiceCollection();
services.AddSingleton<IConfiguration>(configuration);
services.AddKeybrake()                                                          // keys and policies from "Keybrake"
    .AddStripeClient(o => { o.KeyId = "refund-agent"; o.ApiBase = stripeStandIn.Url; });
await using var provider = services.BuildServiceProvider();

var console = new DemoConsole(Console.Out);
console.Title(stripeStandIn.Url);

var orders = await Checkout.TakeOrdersAsync(provider, stripeStandIn.Url, count: 8, amountCents: 2500);
console.Orders(orders);

var agent = new RunawayRefundAgent(provider.GetRequiredService<Stripe.StripeClient>(), console);
using (KeybrakeRun.Begin("run_refund_0200"))
{
    await agent.RunAsync(orders, CancellationToken.None);
}

var spend = await provider.GetRequiredService<IKeybrakeAdmin>().GetDailySpendAsync("refund-agent");
var refundsAtStripe = stripeStandIn.Received.Count(r => r.Path == "/v1/refunds" && r.Status == 200);
var payoutsAtStripe = stripeStandIn.Received.Count(r => r.Path == "/v1/payouts");
console.Summary(agent.Outcomes, spend, refundsAtStripe, payoutsAtStripe);

// The demo fails loudly if the guard did not hold: exit 0 only when the cap stopped the runaway exactly.
return spend.Settled <= spend.Cap && agent.Outcomes.Count(o => o.Allowed) == refundsAtStripe && payoutsAtStripe == 0 ? 0 : 1;
