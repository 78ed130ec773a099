using System.Globalization;

namespace Keybrake.Client.Demo;

/// <summary>What the demo prints.</summary>
internal sealed class DemoConsole(TextWriter output, string prefix = "")
{
    private readonly Lock _gate = new();

    public void Title(string standInUrl, string mode)
    {
        output.WriteLine($"Keybrake demo: a runaway refund agent, guarded ({mode})");
        output.WriteLine($"Stripe stand-in: {standInUrl} (WireMock.Net serving Stripe's own fixture objects)");
        output.WriteLine($"Keybrake:Keys:*:VendorEndpoint = {standInUrl}: the keys' secrets go to the stand-in, never to api.stripe.com");
        output.WriteLine("Key 'refund-agent': daily cap $100.00; allows POST /v1/refunds and GET /v1/**; denies * /v1/payouts/**; loop breaker at 3 repeats/min");
        output.WriteLine();
    }

    public void Orders(IReadOnlyList<Order> orders)
    {
        output.WriteLine($"Checkout charged {orders.Count} orders of $25.00 (key 'checkout').");
        output.WriteLine("The agent should refund one of them. It has a bug.");
        output.WriteLine();
    }

    public void Line(string text)
    {
        lock (_gate)
        {
            output.WriteLine(text);
        }
    }

    public void Call(int number, AgentCall call)
    {
        var verdict = call.Allowed ? $"allowed  {Dollars(call.Amount),9} refunded" : $"DENIED   {call.Reason}";
        Line(string.Create(CultureInfo.InvariantCulture, $"{prefix}#{number,-3} {call.What,-42} {verdict}"));
    }

    public void Summary(int allowed, IReadOnlyDictionary<string, int> denials, SpendReport spend, StandInCounts seen)
    {
        output.WriteLine();
        output.WriteLine("Summary");
        output.WriteLine($"  calls allowed:    {allowed}");
        foreach (var (reason, count) in denials.OrderByDescending(d => d.Value))
        {
            output.WriteLine($"  denied {reason + ":",-26}{count}");
        }

        output.WriteLine($"  USD settled:      {spend.Settled} of the {spend.Cap} daily cap (reserved and unsettled: {spend.Reserved})");
        output.WriteLine($"  Stripe stand-in saw {seen.Refunds} refunds ({Dollars(seen.RefundedCents)}) and {seen.Payouts} payouts.");
        output.WriteLine(spend.Settled <= spend.Cap && seen.RefundedCents * 10_000 <= spend.Cap?.Micros
            ? "The runaway stopped at the cap: nothing past $100.00 left."
            : "The cap did not hold.");
    }

    public static IReadOnlyDictionary<string, int> Denials(IEnumerable<AgentCall> calls) =>
        calls.Where(c => !c.Allowed).GroupBy(c => c.Reason!).ToDictionary(g => g.Key, g => g.Count());

    private static string Dollars(long cents) => string.Create(CultureInfo.InvariantCulture, $"${cents / 100m:0.00}");
}
