using System.Globalization;
using Stripe;

namespace Keybrake.Client.Demo;

/// <summary>What the demo prints.</summary>
internal sealed class DemoConsole(TextWriter output)
{
    public void Title(string standInUrl)
    {
        output.WriteLine("Keybrake demo: a runaway refund agent, guarded");
        output.WriteLine($"Stripe stand-in: {standInUrl} (WireMock.Net serving Stripe's own fixture objects)");
        output.WriteLine("Key 'refund-agent': daily cap $100.00; allows POST /v1/refunds and GET /v1/**; denies * /v1/payouts/**; loop breaker at 3 repeats/min");
        output.WriteLine();
    }

    public void Orders(IReadOnlyList<Charge> orders)
    {
        output.WriteLine($"Checkout charged {orders.Count} orders of {Dollars(orders[0].Amount)} (key 'checkout').");
        output.WriteLine("The agent should refund one of them. It has a bug.");
        output.WriteLine();
    }

    public void Call(int number, AgentCall call)
    {
        var verdict = call.Allowed ? $"allowed  {Dollars(call.Amount),9} refunded" : $"DENIED   {call.Reason}";
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"#{number,-3} {call.What,-42} {verdict}"));
    }

    public void Summary(IReadOnlyList<AgentCall> calls, Keybrake.Client.SpendReport spend, int refundsAtStripe, int payoutsAtStripe)
    {
        output.WriteLine();
        output.WriteLine("Summary");
        output.WriteLine($"  calls allowed:    {calls.Count(c => c.Allowed)}");
        foreach (var group in calls.Where(c => !c.Allowed).GroupBy(c => c.Reason).OrderByDescending(g => g.Count()))
        {
            output.WriteLine($"  denied {group.Key + ":",-26}{group.Count()}");
        }

        output.WriteLine($"  USD settled:      {spend.Settled} of the {spend.Cap} daily cap (reserved and unsettled: {spend.Reserved})");
        output.WriteLine($"  Stripe stand-in saw {refundsAtStripe} refunds and {payoutsAtStripe} payouts.");
        output.WriteLine(spend.Settled <= spend.Cap
            ? "The runaway stopped at the cap: nothing past $100.00 left the process."
            : "The cap did not hold.");
    }

    private static string Dollars(long cents) => string.Create(CultureInfo.InvariantCulture, $"${cents / 100m:0.00}");
}
