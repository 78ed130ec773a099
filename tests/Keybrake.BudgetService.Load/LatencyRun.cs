using System.Diagnostics;
using Keybrake.Client.TestUtilities.Postgres;
using Keybrake.Client.TestUtilities.Tls;
using Keybrake.Protocol;

namespace Keybrake.BudgetService.Load;

/// <summary>
/// Authorize latency against the empty call: one caller, one channel, Ping and Authorize interleaved (the
/// order alternating), so both see the same machine at the same moments. Each Authorize reserves USD 20.00
/// under a new idempotency key and is left pending, as the guard's is while the vendor call is in flight. Every
/// call presents a client credential issued through the admin API.
/// </summary>
/// <remarks>
/// With <c>--tls</c>, a second service listening with TLS (a certificate signed by a CA made for the run, which the
/// second channel trusts, as a guard does with <c>CaCertificatePath</c>) is measured in the same loop: each step
/// calls both services, the order rotating, so cleartext (h2c) and TLS see the same machine at the same moments and
/// the difference between their figures is what TLS costs.
/// </remarks>
internal static class LatencyRun
{
    private const double MaxP50Ratio = 1.5;
    private const double MaxP99Microseconds = 2_000;

    public static async Task<int> RunAsync(int warmup, int calls, bool tls, bool postgres)
    {
        var on = postgres ? " on PostgreSQL" : "";
        Report.Title(tls ? $"Budget service{on}: Authorize latency against an empty call, over h2c and over TLS" : $"Budget service{on}: Authorize latency against an empty call");
        Report.Machine($"latency --warmup {warmup} --calls {calls}{(tls ? " --tls" : "")}{(postgres ? " --postgres" : "")}");

        // With --postgres the service keeps its books in a PostgreSQL server the harness starts (a database per service).
        await using var cluster = postgres ? await PostgresCluster.StartAsync(CancellationToken.None) : null;
        if (cluster is not null)
        {
            Report.Line($"PostgreSQL started by the harness on 127.0.0.1:{cluster.Port} (fsync and synchronous_commit off, as in the tests).");
            Report.Line();
        }

        await using var cleartextService = await LoadService.StartAsync(postgres: cluster is null ? null : await cluster.CreateDatabaseAsync());
        using var cleartextChannel = LoadService.Channel(cleartextService.Address);
        List<Target> targets = [new("h2c", cleartextService.Address, await LoadService.ClientAsync(cleartextChannel), calls)];

        using var certificates = tls ? TestCertificates.Create("Keybrake load harness CA") : null;
        await using var tlsService = certificates is null ? null : await LoadService.StartWithTlsAsync(certificates, cluster is null ? null : await cluster.CreateDatabaseAsync());
        using var tlsChannel = tlsService is null ? null : LoadService.TlsChannel(tlsService.Address, certificates!);
        if (tlsService is not null)
        {
            targets.Add(new("TLS", tlsService.Address, await LoadService.ClientAsync(tlsChannel!), calls));
        }

        long sequence = 0;

        // Warm-up: at least the given number of calls of each, then until the JIT has settled (at most 60 s).
        var warmupCalls = 0;
        var (warmupTook, settled) = await Jit.WarmUpAsync(
            async () =>
            {
                var until = Stopwatch.GetTimestamp() + Stopwatch.Frequency;
                do
                {
                    foreach (var target in targets)
                    {
                        await PingAsync(target.Client);
                        await AuthorizeAsync(target.Client, ++sequence);
                    }

                    warmupCalls++;
                }
                while (Stopwatch.GetTimestamp() < until || warmupCalls < warmup);
            },
            minimum: TimeSpan.Zero,
            maximum: TimeSpan.FromSeconds(60));

        var (jitBefore, methodsBefore) = (Jit.CompilationTime, Jit.CompiledMethods);
        for (var i = 0; i < calls; i++)
        {
            for (var j = 0; j < targets.Count; j++)
            {
                // Rotate which service goes first, and alternate which call goes first, so that none always follows another.
                var target = targets[(i + j) % targets.Count];
                if (i % 2 == 0)
                {
                    target.Ping[i] = await PingAsync(target.Client);
                    target.Authorize[i] = await AuthorizeAsync(target.Client, ++sequence);
                }
                else
                {
                    target.Authorize[i] = await AuthorizeAsync(target.Client, ++sequence);
                    target.Ping[i] = await PingAsync(target.Client);
                }
            }
        }

        var jitLine = Jit.Describe(warmupTook, settled, Jit.CompilationTime - jitBefore, Jit.CompiledMethods - methodsBefore);
        var to = string.Join(" and ", targets.Select(t => t.Address.ToString().TrimEnd('/')));
        Report.Line($"{Report.Number(warmupCalls)} warm-up and {Report.Number(calls)} measured calls of each, one caller, one channel per service, with a client credential, to {to}.");
        Report.Line(jitLine);
        Report.Line();

        var rows = new List<string[]>();
        foreach (var target in targets)
        {
            var suffix = tls ? $", {target.Name}" : "";
            rows.Add(Row($"Ping{suffix} (empty call, baseline)", target.Pings));
            rows.Add(Row($"Authorize{suffix}", target.Authorizations));
        }

        Report.Table(["Call", "p50", "p90", "p99", "max", "mean"], rows);
        foreach (var target in targets)
        {
            var over = tls ? $" ({target.Name})" : "";
            Report.Line($"Authorize minus Ping{over} at p50: {Report.Us(target.Authorizations.Percentile(50) - target.Pings.Percentile(50))}; at p99: {Report.Us(target.Authorizations.Percentile(99) - target.Pings.Percentile(99))}.");
        }

        Report.Line();
        if (tls)
        {
            var (cleartext, secured) = (targets[0], targets[1]);
            Report.Line("What TLS costs (TLS minus h2c, measured in the same loop):");
            Report.Line();
            Report.Table(
                ["Call", "h2c p50", "TLS p50", "TLS − h2c p50", "TLS / h2c p50", "h2c p99", "TLS p99", "TLS − h2c p99", "TLS / h2c p99"],
                [CostRow("Ping", cleartext.Pings, secured.Pings), CostRow("Authorize", cleartext.Authorizations, secured.Authorizations)]);
        }

        Report.Line("Goals:");
        foreach (var target in targets)
        {
            var over = tls ? $" ({target.Name})" : "";
            var ratio = target.Authorizations.Percentile(50) / target.Pings.Percentile(50);
            Report.Verdict($"Authorize p50 <= {Report.Number(MaxP50Ratio, "0.0")}x the empty call{over}", $"{Report.Number(ratio, "0.00")}x", ratio <= MaxP50Ratio);
            Report.Verdict($"Authorize p99 <= {Report.Us(MaxP99Microseconds)}{over}", Report.Us(target.Authorizations.Percentile(99)), target.Authorizations.Percentile(99) <= MaxP99Microseconds);
        }

        Report.Line();
        Report.LoadAtEnd();
        return 0;
    }

    private static string[] CostRow(string name, Latencies cleartext, Latencies secured) =>
    [
        name,
        Report.Us(cleartext.Percentile(50)),
        Report.Us(secured.Percentile(50)),
        Report.Us(secured.Percentile(50) - cleartext.Percentile(50)),
        Report.Number(secured.Percentile(50) / cleartext.Percentile(50), "0.00") + "x",
        Report.Us(cleartext.Percentile(99)),
        Report.Us(secured.Percentile(99)),
        Report.Us(secured.Percentile(99) - cleartext.Percentile(99)),
        Report.Number(secured.Percentile(99) / cleartext.Percentile(99), "0.00") + "x",
    ];

    /// <summary>One service measured: its address, a client of it with a credential, and the ticks of every measured call.</summary>
    private sealed class Target(string name, Uri address, Protocol.Budget.BudgetClient client, int calls)
    {
        public string Name { get; } = name;

        public Uri Address { get; } = address;

        public Protocol.Budget.BudgetClient Client { get; } = client;

        public long[] Ping { get; } = new long[calls];

        public long[] Authorize { get; } = new long[calls];

        public Latencies Pings => new(Ping);

        public Latencies Authorizations => new(Authorize);
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
