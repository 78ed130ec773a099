using System.Diagnostics;
using Keybrake.Protocol;

namespace Keybrake.BudgetService.Load;

/// <summary>
/// Authorize latency against the empty call: one caller, one channel, Ping and Authorize interleaved (the
/// order alternating), so both see the same machine at the same moments. Each Authorize reserves USD 20.00
/// under a new idempotency key and is left pending, as the guard's is while the vendor call is in flight.
/// </summary>
internal static class LatencyRun
{
    private const double MaxP50Ratio = 1.5;
    private const double MaxP99Microseconds = 2_000;

    public static async Task<int> RunAsync(int warmup, int calls)
    {
        Report.Title("Budget service: Authorize latency against an empty call");
        Report.Machine($"latency --warmup {warmup} --calls {calls}");

        await using var service = await LoadService.StartAsync();
        using var channel = LoadService.Channel(service.Address);
        var client = await LoadService.ClientAsync(channel);

        long sequence = 0;
        var ping = new long[calls];
        var authorize = new long[calls];

        // Warm-up: at least the given number of calls of each, then until the JIT has settled (at most 60 s).
        var warmupCalls = 0;
        var (warmupTook, settled) = await Jit.WarmUpAsync(
            async () =>
            {
                var until = Stopwatch.GetTimestamp() + Stopwatch.Frequency;
                do
                {
                    await PingAsync(client);
                    await AuthorizeAsync(client, ++sequence);
                    warmupCalls++;
                }
                while (Stopwatch.GetTimestamp() < until || warmupCalls < warmup);
            },
            minimum: TimeSpan.Zero,
            maximum: TimeSpan.FromSeconds(60));

        var (jitBefore, methodsBefore) = (Jit.CompilationTime, Jit.CompiledMethods);
        for (var i = 0; i < calls; i++)
        {
            // Alternate which goes first, so that neither always follows the other.
            if (i % 2 == 0)
            {
                ping[i] = await PingAsync(client);
                authorize[i] = await AuthorizeAsync(client, ++sequence);
            }
            else
            {
                authorize[i] = await AuthorizeAsync(client, ++sequence);
                ping[i] = await PingAsync(client);
            }
        }

        var jitLine = Jit.Describe(warmupTook, settled, Jit.CompilationTime - jitBefore, Jit.CompiledMethods - methodsBefore);
        var pings = new Latencies(ping);
        var authorizations = new Latencies(authorize);
        Report.Line($"{Report.Number(warmupCalls)} warm-up and {Report.Number(calls)} measured calls of each, one caller, one channel, to {service.Address}.");
        Report.Line(jitLine);
        Report.Line();
        Report.Table(
            ["Call", "p50", "p90", "p99", "max", "mean"],
            [Row("Ping (empty call, baseline)", pings), Row("Authorize", authorizations)]);

        var ratio = authorizations.Percentile(50) / pings.Percentile(50);
        Report.Line($"Authorize minus Ping at p50: {Report.Us(authorizations.Percentile(50) - pings.Percentile(50))}; at p99: {Report.Us(authorizations.Percentile(99) - pings.Percentile(99))}.");
        Report.Line();
        Report.Line("Goals:");
        Report.Verdict($"Authorize p50 <= {Report.Number(MaxP50Ratio, "0.0")}x the empty call", $"{Report.Number(ratio, "0.00")}x", ratio <= MaxP50Ratio);
        Report.Verdict($"Authorize p99 <= {Report.Us(MaxP99Microseconds)}", Report.Us(authorizations.Percentile(99)), authorizations.Percentile(99) <= MaxP99Microseconds);
        Report.Line();
        Report.LoadAtEnd();
        return 0;
    }

    private static string[] Row(string name, Latencies latencies) =>
    [
        name,
        Report.Us(latencies.Percentile(50)),
        Report.Us(latencies.Percentile(90)),
        Report.Us(latencies.Percentile(99)),
        Report.Us(latencies.Max),
        Report.Us(latencies.Mean),
    ];

    private static async Task<long> PingAsync(Protocol.Budget.BudgetClient client)
    {
        var request = new PingRequest();
        var started = Stopwatch.GetTimestamp();
        await client.PingAsync(request);
        return Stopwatch.GetTimestamp() - started;
    }

    private static async Task<long> AuthorizeAsync(Protocol.Budget.BudgetClient client, long sequence)
    {
        var request = LoadService.Authorize(sequence);
        var started = Stopwatch.GetTimestamp();
        var reply = await client.AuthorizeAsync(request);
        var elapsed = Stopwatch.GetTimestamp() - started;
        if (!reply.Allowed || reply.ReservationId.Length == 0)
        {
            throw new InvalidOperationException($"Authorize was not allowed ({reply.Reason}: {reply.Message}); the harness measures the allowed path only.");
        }

        return elapsed;
    }
}
