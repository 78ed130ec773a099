using Microsoft.Extensions.DependencyInjection;

namespace Keybrake.Client.Demo;

/// <summary>The first demo: one process, the embedded ledger, nothing to start but this program.</summary>
internal static class EmbeddedDemo
{
    public static async Task<int> RunAsync()
    {
        using var stripeStandIn = Keybrake.Client.TestUtilities.Stripe.StripeStub.Start();
        var services = new ServiceCollection();
        services.AddSingleton(DemoSettings.Load(stripeStandIn.Url));
        services.AddKeybrake()                                                      // keys and policies from "Keybrake"
            .AddStripeClient(o => { o.KeyId = DemoSettings.AgentKey; o.ApiBase = stripeStandIn.Url; });
        await using var provider = services.BuildServiceProvider();

        var console = new DemoConsole(Console.Out);
        console.Title(stripeStandIn.Url, "embedded ledger, one process");
        var orders = await Checkout.TakeOrdersAsync(provider, stripeStandIn.Url, count: 8, amountCents: 2500);
        console.Orders(orders);

        var agent = new RunawayRefundAgent(provider.GetRequiredService<global::Stripe.StripeClient>(), console);
        using (KeybrakeRun.Begin("run_refund_0200"))
        {
            await agent.RunAsync(orders, CancellationToken.None);
        }

        var spend = await provider.GetRequiredService<IKeybrakeAdmin>().GetDailySpendAsync(DemoSettings.AgentKey);
        var seen = StandInCounts.Of(stripeStandIn);
        console.Summary(agent.Outcomes.Count(o => o.Allowed), DemoConsole.Denials(agent.Outcomes), spend, seen);

        var blastHeld = await EmailBlastScenario.RunAsync(Console.Out);
        var smsHeld = await SmsStormDemo.RunAsync(Console.Out) == 0;
        var supportHeld = await SupportAgentScenario.RunAsync(Console.Out);

        // Exit 0 only when the caps stopped every runaway exactly (the refunds, the email blast and the SMS storm)
        // and the support agent refunded charges it never saw within its cap and its customers.
        var refundsHeld = spend.Settled <= spend.Cap && agent.Outcomes.Count(o => o.Allowed) == seen.Refunds && seen.Payouts == 0;
        return refundsHeld && blastHeld && smsHeld && supportHeld ? 0 : 1;
    }
}
