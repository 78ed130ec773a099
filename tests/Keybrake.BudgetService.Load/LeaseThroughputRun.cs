using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Grpc.Net.Client;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Client.TestUtilities.Processes;
using Keybrake.Protocol;

namespace Keybrake.BudgetService.Load;

/// <summary>
/// Guarded charges per second from agent processes on ONE key, without and with budget leases: K LoadAgent processes
/// (Stripe.net through the guard in central mode, an in-process Stripe stub as the guard's innermost handler, so no
/// network hop behind the guard) charge USD 20.00 without pause; the budget service runs in this process. The key's
/// policy says <c>Lease:Enabled</c> false for one phase and true for the other, each on a fresh service. A first
/// phase runs the same agents with no guard at all (<c>--guard none</c>: Stripe.net and the stub alone), the ceiling of
/// this machine that the guarded phases are measured against in the same run. Measured
/// between two marks after a warm-up: charges allowed by every agent, and every RPC the service answered (counted
/// from the spans its telemetry interceptor starts, one per RPC), per 1,000 charges by method. After the agents
/// have stopped (settlements flushed, leases given back), the service's books must hold every charge at USD 20.00
/// and nothing reserved.
/// </summary>
internal static class LeaseThroughputRun
{
    private const double MinChargesPerSecondWithLeases = 50_000;
    private const string KeyId = "lease-load-agent";
    private const string BrakeKey = "vault_key_lease_load_agent_0001";
    private const long ChargeMicroUsd = 20_000_000;
    private static readonly TimeSpan s_startTimeout = TimeSpan.FromSeconds(120);
    private static readonly TimeSpan s_stopTimeout = TimeSpan.FromSeconds(120);

    public static async Task<int> RunAsync(int processes, int tasks, TimeSpan warmup, TimeSpan duration, bool without, bool with)
    {
        Report.Title("Guarded charges per second on one key from agent processes, without and with budget leases");
        Report.Machine($"lease-throughput --processes {processes} --tasks {tasks} --warmup-seconds {warmup.TotalSeconds} --seconds {duration.TotalSeconds}"
            + (without && !with ? " --without-lease" : with && !without ? " --with-lease" : string.Empty));

        var phases = new List<Phase>();
        var guards = new[] { AgentGuard.None, AgentGuard.CallByCall, AgentGuard.Lease }
            .Where(guard => guard switch { AgentGuard.CallByCall => without, AgentGuard.Lease => with, _ => true });
        foreach (var guard in guards)
        {
            if (await PhaseAsync(processes, tasks, warmup, duration, guard) is not { } phase)
            {
                return 1;
            }

            phases.Add(phase);
        }

        var methods = phases.SelectMany(p => p.Rpcs.Keys).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        var bare = phases.First(p => p.Guard == AgentGuard.None);
        Report.Table(
            ["Agents", "Charges", "Seconds", "Charges/s", "Of the unguarded", .. methods.Select(m => m + " per 1,000"), "All RPCs per 1,000"],
            phases.Select(p => (string[])
            [
                p.Guard switch
                {
                    AgentGuard.None => "no guard (Stripe.net and the stub alone)",
                    AgentGuard.CallByCall => "guarded, Lease:Enabled false",
                    _ => "guarded, Lease:Enabled true",
                },
                Report.Number(p.Charges), Report.Number(p.Seconds, "0.0"), Report.Number(p.PerSecond),
                Report.Number(p.PerSecond / bare.PerSecond * 100, "0") + "%",
                .. methods.Select(m => Report.Number(p.Rpcs.GetValueOrDefault(m) * 1_000.0 / p.Charges, "0.0")),
                Report.Number(p.Rpcs.Values.Sum() * 1_000.0 / p.Charges, "0.0"),
            ]));
        Report.Line("RPCs are counted at the service (one span per RPC from its telemetry interceptor) over the measured window only.");
        Report.Line();

        Report.Line("Goals:");
        if (phases.FirstOrDefault(p => p.Guard == AgentGuard.Lease) is { } leased)
        {
            // A slice taken during the warm-up may last the whole window: whether charges were decided on leases shows in
            // how many of them still asked Authorize.
            var leaseRpcs = leased.Rpcs.GetValueOrDefault("Lease");
            var authorizes = leased.Rpcs.GetValueOrDefault("Authorize");
            Report.Verdict($">= {Report.Number(MinChargesPerSecondWithLeases)} guarded charges/s in total with leases", $"{Report.Number(leased.PerSecond)} charges/s", leased.PerSecond >= MinChargesPerSecondWithLeases);
            Report.Line(bare.PerSecond < MinChargesPerSecondWithLeases
                ? $"  (the same agents with no guard made {Report.Number(bare.PerSecond)} charges/s: on this machine the goal is out of reach of Stripe.net itself; the guarded charges made {Report.Number(leased.PerSecond / bare.PerSecond * 100, "0")}% of that)"
                : $"  (the same agents with no guard made {Report.Number(bare.PerSecond)} charges/s)");
            Report.Line(authorizes * 2 > leased.Charges
                ? "  (most charges still asked Authorize: the guard did not lease, so this phase measured the call-by-call path)"
                : $"  ({Report.Number(leased.Charges - authorizes)} of {Report.Number(leased.Charges)} charges decided on leases; {Report.Number(leaseRpcs)} Lease RPCs in the window)");
        }

        Report.Line();
        Report.LoadAtEnd();
        return 0;
    }

    private static async Task<Phase?> PhaseAsync(int processes, int tasks, TimeSpan warmup, TimeSpan duration, AgentGuard guard)
    {
        var leasing = guard == AgentGuard.Lease;
        var settings = BudgetServiceHost.Key(KeyId, "1000000000");
        settings[$"BudgetService:Keys:{KeyId}:Policy:Lease:Enabled"] = leasing ? "true" : "false";
        var folder = Directory.CreateTempSubdirectory("keybrake-lease-load-").FullName;
        using var rpcs = new RpcCounter();
        try
        {
            await using var service = await BudgetServiceHost.StartAsync(settings, folder);
            var tokenFile = BudgetServiceHost.WriteClientTokenFile(folder);
            var starting = Enumerable.Range(0, processes).Select(index => DotnetProcess.StartReadyAsync(
                "Keybrake.Client.LoadAgent.dll",
                [
                    "--service", service.Address.ToString(), "--client-token-file", tokenFile, "--stripe", "stub",
                    "--key-id", KeyId, "--brake-key", BrakeKey, "--outbox", Path.Combine(folder, $"agent{index}-outbox.db"),
                    "--tasks", Invariant(tasks), "--until-stop", "--min-cents", "2000", "--max-cents", "2000",
                    // Deadlines are not what this measures: on a loaded machine the service can be slow to answer.
                    "--call-timeout-ms", "30000", "--total-timeout-ms", "30000", "--log-level", "Warning", "--wait-for-go",
                    "--guard", guard == AgentGuard.None ? "none" : "central",
                ],
                s_startTimeout,
                $"Agent {index}")).ToList();
            var agents = new List<DotnetProcess>();
            try
            {
                foreach (var start in starting)
                {
                    agents.Add(await start);
                }

                await Task.WhenAll(agents.Select(agent => agent.WriteLineAsync("go")));
                await Task.Delay(warmup);
                var before = await MarkAsync(agents);
                var started = Stopwatch.GetTimestamp();
                rpcs.Counting = true;
                await Task.Delay(duration);
                var after = await MarkAsync(agents);
                var elapsed = Stopwatch.GetElapsedTime(started);
                rpcs.Counting = false;
                var counted = rpcs.Snapshot();

                var summaries = new List<JsonElement>();
                foreach (var agent in agents)
                {
                    await agent.WriteLineAsync("stop");
                }

                foreach (var (agent, index) in agents.Select((agent, index) => (agent, index)))
                {
                    var line = await agent.ReadLineAsync(s_stopTimeout);
                    var exit = await agent.WaitForExitAsync(s_stopTimeout);
                    if (exit != 0 || line is null)
                    {
                        Console.Error.WriteLine($"Agent {index} exited with {exit} and summary '{line}'.\n{agent.Diagnostics}");
                        return null;
                    }

                    summaries.Add(JsonDocument.Parse(line).RootElement.Clone());
                }

                var allowed = summaries.Sum(s => s.GetProperty("allowed").GetInt64());
                var errors = summaries.Sum(s => s.GetProperty("errors").EnumerateObject().Sum(e => e.Value.GetInt64()));
                if (errors > 0)
                {
                    Console.Error.WriteLine($"{errors} charges failed other than by a denial: {string.Join("; ", summaries.Select(s => s.GetRawText()))}");
                    return null;
                }

                // A denial (budget_service_unavailable when the service answers too late on a loaded machine) is reported,
                // not hidden: the charges/s count allowed charges only.
                var denied = summaries.SelectMany(s => s.GetProperty("denied").EnumerateObject())
                    .GroupBy(e => e.Name, StringComparer.Ordinal)
                    .Select(g => $"{g.Key} {Report.Number(g.Sum(e => e.Value.GetInt64()))}")
                    .ToList();

                // Every allowed charge on the books, nothing left reserved: the agents flushed their settlements (and gave
                // back their leases) as they stopped.
                using var channel = GrpcChannel.ForAddress(service.Address);
                var spend = await BudgetServiceHost.AdminClient(channel).GetDailySpendAsync(new DailySpendRequest { KeyId = KeyId });
                // A charge denied because the guard's Authorize timed out may still have been reserved at the service: that
                // reservation stays pending, counted as spent (the safe side), at most one per such denial.
                var unavailable = summaries.Sum(s => s.GetProperty("denied").TryGetProperty("budget_service_unavailable", out var n) ? n.GetInt64() : 0);
                var booked = guard == AgentGuard.None ? 0 : allowed * ChargeMicroUsd;
                if (spend.SettledMicroUsd != booked || spend.ReservedMicroUsd > unavailable * ChargeMicroUsd)
                {
                    Console.Error.WriteLine($"The service's books do not match the charges: settled {spend.SettledMicroUsd} (expected {booked}), "
                        + $"reserved {spend.ReservedMicroUsd} (expected at most {unavailable * ChargeMicroUsd}, for the charges denied as the service answered too late).");
                    return null;
                }

                var charges = after - before;
                Report.Line($"{guard switch { AgentGuard.None => "No guard", AgentGuard.CallByCall => "Without leases", _ => "With leases" }}: {processes} agent processes of {tasks} tasks, {warmup.TotalSeconds:0} s warm-up, "
                    + $"{elapsed.TotalSeconds:0.0} s measured; {Report.Number(allowed)} charges {(guard == AgentGuard.None ? "made, none seen by the service" : "allowed in all, every one on the books")}; "
                    + (denied.Count == 0 ? "none denied." : $"denied: {string.Join(", ", denied)}."));
                return new Phase(guard, charges, elapsed.TotalSeconds, counted);
            }
            finally
            {
                foreach (var agent in agents)
                {
                    await agent.DisposeAsync();
                }
            }
        }
        finally
        {
            try
            {
                Directory.Delete(folder, recursive: true);
            }
            catch (IOException)
            {
                // a file still held open: the temp folder is cleaned by the system
            }
        }
    }

    /// <summary>Asks every agent for its count of allowed charges (the "mark" line of --until-stop) and adds them up.</summary>
    private static async Task<long> MarkAsync(List<DotnetProcess> agents)
    {
        await Task.WhenAll(agents.Select(agent => agent.WriteLineAsync("mark")));
        long total = 0;
        foreach (var agent in agents)
        {
            var line = await agent.ReadLineAsync(s_stopTimeout);
            if (line?.Split(' ') is not ["mark", var count])
            {
                throw new InvalidOperationException($"An agent said '{line}' where 'mark <count>' was expected.\n{agent.Diagnostics}");
            }

            total += long.Parse(count, CultureInfo.InvariantCulture);
        }

        return total;
    }

    private static string Invariant(int value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>What stands between the agents' Stripe.net clients and the stub.</summary>
    private enum AgentGuard
    {
        /// <summary>Nothing: the baseline.</summary>
        None,

        /// <summary>The guard in central mode, every money call asking Authorize.</summary>
        CallByCall,

        /// <summary>The guard in central mode, deciding money calls on budget leases.</summary>
        Lease,
    }

    private sealed record Phase(AgentGuard Guard, long Charges, double Seconds, IReadOnlyDictionary<string, long> Rpcs)
    {
        public double PerSecond => Charges / Seconds;
    }

    /// <summary>
    /// Counts the RPCs the service in this process answers, by method: its telemetry interceptor starts one span
    /// (named "Budget/Authorize", ...) per RPC on the service's activity source.
    /// </summary>
    private sealed class RpcCounter : IDisposable
    {
        private readonly ActivityListener _listener;
        private readonly ConcurrentDictionary<string, long> _counts = new(StringComparer.Ordinal);
        private volatile bool _counting;

        public RpcCounter()
        {
            _listener = new ActivityListener
            {
                ShouldListenTo = source => source.Name == "Keybrake.BudgetService",
                Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.PropagationData,
                ActivityStarted = activity =>
                {
                    if (_counting)
                    {
                        var name = activity.OperationName;
                        _counts.AddOrUpdate(name[(name.LastIndexOf('/') + 1)..], 1, (_, n) => n + 1);
                    }
                },
            };
            ActivitySource.AddActivityListener(_listener);
        }

        public bool Counting
        {
            get => _counting;
            set => _counting = value;
        }

        public Dictionary<string, long> Snapshot() => new Dictionary<string, long>(_counts, StringComparer.Ordinal);

        public void Dispose() => _listener.Dispose();
    }
}
