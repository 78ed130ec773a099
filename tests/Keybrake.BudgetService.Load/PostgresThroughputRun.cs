using System.Diagnostics;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Client.TestUtilities.Postgres;
using Keybrake.Protocol;
using Npgsql;

namespace Keybrake.BudgetService.Load;

/// <summary>
/// Throughput on PostgreSQL: the service as one and as two replicas (each its own process, on one database), with
/// concurrent callers split evenly between the replicas, each doing Authorize then Settle (commit) pairs for a fixed
/// time; on one hot key, then spread over many keys. In the same run, for each key shape, <see cref="RawNpgsqlLoop"/>
/// does the store's transactions directly with as many workers. The harness starts its own PostgreSQL server.
/// </summary>
internal static class PostgresThroughputRun
{
    private const double MinRatio = 0.7;

    public static async Task<int> RunAsync(int callers, int spreadKeys, TimeSpan warmup, TimeSpan duration)
    {
        Report.Title("Budget service on PostgreSQL: Authorize + Settle throughput, 1 and 2 replicas, against a raw Npgsql loop");
        Report.Machine($"pg-throughput --callers {callers} --keys {spreadKeys} --warmup-seconds {warmup.TotalSeconds} --seconds {duration.TotalSeconds}");

        await using var cluster = await PostgresCluster.StartAsync(CancellationToken.None);
        Report.Line($"PostgreSQL: {await ServerVersionAsync(cluster)}, started by the harness on 127.0.0.1:{cluster.Port} (fsync and synchronous_commit off, as in the tests).");
        Report.Line();

        var rows = new List<string[]>();
        var verdicts = new List<(string Goal, string Measured, bool Met)>();
        foreach (var keyCount in new[] { 1, spreadKeys })
        {
            List<string> keys = keyCount == 1 ? [LoadService.KeyId] : Enumerable.Range(0, keyCount).Select(i => $"load-{i:D4}").ToList();
            var shape = keyCount == 1 ? "one hot key" : $"{Report.Number(keyCount)} keys";
            var raw = await MeasureRawAsync(cluster, keys, callers, warmup, duration);
            if (raw is null)
            {
                return 1;
            }

            rows.Add(Row($"Raw Npgsql loop, {callers} workers, {shape} (baseline)", raw, null));
            foreach (var replicas in new[] { 1, 2 })
            {
                var service = await MeasureServiceAsync(cluster, keys, replicas, callers, warmup, duration);
                if (service is null)
                {
                    return 1;
                }

                var ratio = service.PerSecond / raw.PerSecond;
                rows.Add(Row($"Budget service, {replicas} replica{(replicas == 1 ? "" : "s")}, {callers} callers, {shape}", service, ratio));
                verdicts.Add(($">= {Report.Number(MinRatio, "0.0")}x the raw loop, {replicas} replica{(replicas == 1 ? "" : "s")}, {shape}", $"{Report.Number(ratio, "0.00")}x", ratio >= MinRatio));
            }
        }

        Report.Table(["Run", "Pairs", "Seconds", "Pairs/s", "Pair p50", "Pair p99", "Service / raw", "CPU/pair: harness", "replicas", "PostgreSQL"], rows);
        Report.Line("CPU per pair: the CPU time each side used in the measured window over the pairs it finished (the harness is the callers' gRPC");
        Report.Line("client, or the raw loop with Npgsql; PostgreSQL is the backends serving the database). On a shared machine, the sum is what competes for the cores.");
        Report.Line();
        Report.Line("Goals:");
        foreach (var (goal, measured, met) in verdicts)
        {
            Report.Verdict(goal, measured, met);
        }

        Report.Line();
        Report.LoadAtEnd();
        return 0;
    }

    private static string[] Row(string name, Measurement measurement, double? ratio) =>
    [
        name,
        Report.Number(measurement.Pairs),
        Report.Number(Report.Seconds(measurement.Ticks), "0.0"),
        Report.Number(measurement.PerSecond),
        Report.Us(measurement.Latencies.Percentile(50)),
        Report.Us(measurement.Latencies.Percentile(99)),
        ratio is { } r ? Report.Number(r, "0.00") + "x" : "",
        measurement.PerPair(measurement.Cpu.Harness),
        ratio is null ? "" : measurement.PerPair(measurement.Cpu.Service),
        measurement.PerPair(measurement.Cpu.Database),
    ];

    private static async Task<Measurement?> MeasureServiceAsync(PostgresCluster cluster, List<string> keys, int replicaCount, int callers, TimeSpan warmup, TimeSpan duration)
    {
        var database = await cluster.CreateDatabaseAsync();
        var settings = ServiceSettings(keys, database);
        var replicas = new List<BudgetServiceProcess>();
        var channels = new List<Grpc.Net.Client.GrpcChannel>();
        try
        {
            // One after the other: the first creates the schema, the next finds it.
            for (var i = 0; i < replicaCount; i++)
            {
                replicas.Add(await BudgetServiceProcess.StartAsync(settings));
            }

            channels.AddRange(replicas.Select(replica => LoadService.Channel(replica.Address)));
            var clients = channels.Select(channel => BudgetServiceHost.BudgetClient(channel)).ToList();
            foreach (var client in clients)
            {
                await client.PingAsync(new PingRequest()); // the connection, before anyone measures
            }

            var state = new CallerState();
            var tasks = Enumerable.Range(0, callers).Select(i => Task.Run(() => CallerAsync(clients[i % clients.Count], keys, state))).ToArray();

            // The replicas warm up in their own processes: the minimum warm-up is for them, the JIT check for the callers.
            var (warmupTook, settled) = await Jit.WarmUpAsync(() => Task.Delay(TimeSpan.FromSeconds(1)), warmup, TimeSpan.FromSeconds(60));
            var (jitBefore, methodsBefore) = (Jit.CompilationTime, Jit.CompiledMethods);
            var backends = await CpuTime.BackendsAsync(database);
            var replicaIds = replicas.Select(replica => replica.ProcessId).ToList();
            var (startHarness, startService, startDatabase) = (Report.ProcessorTime(), CpuTime.Of(replicaIds), CpuTime.Of(backends));
            var (startPairs, started) = (Interlocked.Read(ref state.Completed), Stopwatch.GetTimestamp());
            Volatile.Write(ref state.Measuring, true);
            await Task.Delay(duration);
            var (endPairs, ended) = (Interlocked.Read(ref state.Completed), Stopwatch.GetTimestamp());
            var cpu = new Cpu(Report.ProcessorTime() - startHarness, CpuTime.Of(replicaIds) - startService, CpuTime.Of(backends) - startDatabase);
            var jitLine = Jit.Describe(warmupTook, settled, Jit.CompilationTime - jitBefore, Jit.CompiledMethods - methodsBefore);
            Volatile.Write(ref state.Measuring, false);
            Volatile.Write(ref state.Stop, true);
            var perCaller = await Task.WhenAll(tasks);

            if (!await BooksMatchAsync(database, state.Completed, "The service's"))
            {
                return null;
            }

            Report.Line($"Service: {replicaCount} replica process{(replicaCount == 1 ? "" : "es")} on one database, {callers} callers split between them (one channel each), "
                + $"{keys.Count} key{(keys.Count == 1 ? "" : "s")}, {duration.TotalSeconds:0} s measured; {Report.Number(state.Completed)} pairs in all, every one on the books.");
            Report.Line(jitLine);
            Report.Line();
            return new Measurement(endPairs - startPairs, ended - started, new Latencies(perCaller.SelectMany(l => l)), cpu);
        }
        finally
        {
            foreach (var channel in channels)
            {
                channel.Dispose();
            }

            foreach (var replica in replicas)
            {
                await replica.DisposeAsync();
            }
        }
    }

    private static async Task<Measurement?> MeasureRawAsync(PostgresCluster cluster, List<string> keys, int workers, TimeSpan warmup, TimeSpan duration)
    {
        // A fresh database with the service's own schema: a replica creates it on start, and stops.
        var database = await cluster.CreateDatabaseAsync();
        await (await BudgetServiceProcess.StartAsync(ServiceSettings(keys, database))).DisposeAsync();

        await using var loop = new RawNpgsqlLoop(database, keys);
        var (warmupTook, settled) = await Jit.WarmUpAsync(async () => await loop.RunAsync(workers, TimeSpan.FromSeconds(1)), warmup, TimeSpan.FromSeconds(60));
        var (jitBefore, methodsBefore) = (Jit.CompilationTime, Jit.CompiledMethods);
        var backends = await CpuTime.BackendsAsync(database);
        var (startHarness, startDatabase) = (Report.ProcessorTime(), CpuTime.Of(backends));
        var (pairs, ticks, latencies) = await loop.RunAsync(workers, duration);
        var cpu = new Cpu(Report.ProcessorTime() - startHarness, TimeSpan.Zero, CpuTime.Of(backends) - startDatabase);
        var jitLine = Jit.Describe(warmupTook, settled, Jit.CompilationTime - jitBefore, Jit.CompiledMethods - methodsBefore);
        if (!await BooksMatchAsync(database, loop.TotalPairs, "The raw loop's"))
        {
            return null;
        }

        Report.Line($"Raw loop: {workers} workers on one pool, {keys.Count} key{(keys.Count == 1 ? "" : "s")}, {duration.TotalSeconds:0} s measured, on a fresh database the service created; "
            + $"{Report.Number(loop.TotalPairs)} pairs in all, every one on the books.");
        Report.Line(jitLine);
        Report.Line();
        return new Measurement(pairs, ticks, latencies, cpu);
    }

    /// <summary>The service's configuration: the keys (each with a cap no run reaches) and the database.</summary>
    private static Dictionary<string, string?> ServiceSettings(List<string> keys, string database)
    {
        var settings = new Dictionary<string, string?>
        {
            ["BudgetService:Store"] = "PostgreSQL",
            ["ConnectionStrings:Keybrake"] = database,
        };
        foreach (var key in keys)
        {
            foreach (var (name, value) in BudgetServiceHost.Key(key, "1000000000"))
            {
                settings[name] = value;
            }
        }

        return settings;
    }

    /// <summary>Every pair on the books: committed at USD 20.00 each, nothing left reserved.</summary>
    private static async Task<bool> BooksMatchAsync(string database, long pairs, string whose)
    {
        await using var connection = new NpgsqlConnection(database);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT COALESCE(SUM(settled), 0)::bigint, COALESCE(SUM(reserved), 0)::bigint FROM day_counter", connection);
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        var (settled, reserved) = (reader.GetInt64(0), reader.GetInt64(1));
        var expected = pairs * LoadService.EstimateMicroUsd;
        if (settled != expected || reserved != 0)
        {
            Console.Error.WriteLine($"{whose} books do not match the calls: settled {settled} (expected {expected}), reserved {reserved} (expected 0).");
            return false;
        }

        return true;
    }

    private static async Task<string> ServerVersionAsync(PostgresCluster cluster)
    {
        await using var connection = new NpgsqlConnection(cluster.ConnectionString());
        await connection.OpenAsync();
        return "PostgreSQL " + connection.PostgreSqlVersion;
    }

    /// <summary>One caller: pairs back to back until told to stop; returns the latencies of the pairs it finished while measured.</summary>
    private static async Task<List<long>> CallerAsync(Protocol.Budget.BudgetClient client, List<string> keys, CallerState state)
    {
        var latencies = new List<long>(16 * 1024);
        while (!Volatile.Read(ref state.Stop))
        {
            var started = Stopwatch.GetTimestamp();
            var sequence = Interlocked.Increment(ref state.Sequence);
            var request = LoadService.Authorize(sequence);
            request.KeyId = keys[(int)(sequence % keys.Count)];
            var authorization = await client.AuthorizeAsync(request);
            if (!authorization.Allowed || authorization.ReservationId.Length == 0)
            {
                throw new InvalidOperationException($"Authorize was not allowed ({authorization.Reason}: {authorization.Message}); the harness measures the allowed path only.");
            }

            var settledReply = await client.SettleAsync(LoadService.Commit(authorization.ReservationId));
            if (settledReply.Changed != 1)
            {
                throw new InvalidOperationException($"Settle changed {settledReply.Changed} reservations, not 1.");
            }

            var elapsed = Stopwatch.GetTimestamp() - started;
            Interlocked.Increment(ref state.Completed);
            if (Volatile.Read(ref state.Measuring))
            {
                latencies.Add(elapsed);
            }
        }

        return latencies;
    }

    /// <summary>Pairs completed in the measured time, the time (Stopwatch ticks), and the pairs' latencies.</summary>
    private sealed record Measurement(long Pairs, long Ticks, Latencies Latencies, Cpu Cpu)
    {
        public double PerSecond => Pairs / Report.Seconds(Ticks);

        public string PerPair(TimeSpan cpu) => Report.Us(cpu.TotalMicroseconds / Pairs);
    }

    /// <summary>CPU time in the measured window: the harness (the callers' gRPC client, or the raw loop), the replicas, PostgreSQL's backends.</summary>
    private sealed record Cpu(TimeSpan Harness, TimeSpan Service, TimeSpan Database);

    private sealed class CallerState
    {
        public long Sequence;
        public long Completed;
        public bool Measuring;
        public bool Stop;
    }
}
