using System.Diagnostics;
using Keybrake.Protocol;

namespace Keybrake.BudgetService.Load;

/// <summary>
/// Throughput on SQLite: concurrent callers on one channel, each doing Authorize then Settle (commit) pairs
/// for a fixed time; then, in the same run, <see cref="RawSqliteLoop"/> doing the same transaction directly.
/// </summary>
internal static class ThroughputRun
{
    private const double MinPairsPerSecond = 10_000;
    private const double MinRatio = 0.5;

    public static async Task<int> RunAsync(int callers, TimeSpan warmup, TimeSpan duration, TimeSpan rawDuration)
    {
        Report.Title("Budget service: Authorize + Settle throughput on SQLite against a raw SQLite loop");
        Report.Machine($"throughput --callers {callers} --warmup-seconds {warmup.TotalSeconds} --seconds {duration.TotalSeconds} --raw-seconds {rawDuration.TotalSeconds}");

        var service = await MeasureServiceAsync(callers, warmup, duration);
        if (service is null)
        {
            return 1;
        }

        var raw = await MeasureRawLoopAsync(warmup, rawDuration);
        if (raw is null)
        {
            return 1;
        }

        var servicePerSecond = service.PerSecond;
        var ratio = servicePerSecond / raw.PerSecond;

        Report.Table(
            ["Run", "Pairs", "Seconds", "Pairs/s", "CPU per pair", "Pair p50", "Pair p99"],
            [
                [$"Budget service, {callers} callers over gRPC", Report.Number(service.Pairs), Report.Number(Report.Seconds(service.Ticks), "0.0"),
                    Report.Number(servicePerSecond), Report.Us(service.CpuPerPair), Report.Us(service.Latencies!.Percentile(50)), Report.Us(service.Latencies.Percentile(99))],
                ["Raw SQLite loop, 1 thread, 1 transaction per pair (baseline)", Report.Number(raw.Pairs), Report.Number(Report.Seconds(raw.Ticks), "0.0"),
                    Report.Number(raw.PerSecond), Report.Us(raw.CpuPerPair), Report.Us(1_000_000 / raw.PerSecond) + " (mean)", ""],
            ]);
        Report.Line($"Service / raw loop: {Report.Number(ratio, "0.00")}x. CPU per pair is the whole process's CPU time over the measured pairs: every thread,");
        Report.Line("the callers' gRPC client and the threads' spin-waiting included (so it is higher on an idle machine, where threads spin, than on a busy one).");
        Report.Line();

        Report.Line("Goals:");
        Report.Verdict($">= {Report.Number(MinPairsPerSecond)} pairs/s", $"{Report.Number(servicePerSecond)} pairs/s", servicePerSecond >= MinPairsPerSecond);
        Report.Verdict($">= {Report.Number(MinRatio, "0.0")}x the raw SQLite loop", $"{Report.Number(ratio, "0.00")}x", ratio >= MinRatio);
        Report.Line();
        Report.LoadAtEnd();
        return 0;
    }

    private static async Task<Measurement?> MeasureServiceAsync(int callers, TimeSpan warmup, TimeSpan duration)
    {
        await using var service = await LoadService.StartAsync();
        using var channel = LoadService.Channel(service.Address);
        var client = await LoadService.ClientAsync(channel);
        var admin = Keybrake.Client.TestUtilities.BudgetService.BudgetServiceHost.AdminClient(channel);
        await client.PingAsync(new PingRequest()); // the connection, before anyone measures

        var state = new CallerState();
        var tasks = Enumerable.Range(0, callers).Select(_ => Task.Run(() => CallerAsync(client, state))).ToArray();

        var (warmupTook, settled) = await Jit.WarmUpAsync(() => Task.Delay(TimeSpan.FromSeconds(1)), warmup, TimeSpan.FromSeconds(60));
        var (jitBefore, methodsBefore) = (Jit.CompilationTime, Jit.CompiledMethods);
        var (startPairs, started, startCpu) = (Interlocked.Read(ref state.Completed), Stopwatch.GetTimestamp(), Report.ProcessorTime());
        Volatile.Write(ref state.Measuring, true);
        await Task.Delay(duration);
        var (endPairs, ended, endCpu) = (Interlocked.Read(ref state.Completed), Stopwatch.GetTimestamp(), Report.ProcessorTime());
        var jitLine = Jit.Describe(warmupTook, settled, Jit.CompilationTime - jitBefore, Jit.CompiledMethods - methodsBefore);
        Volatile.Write(ref state.Measuring, false);
        Volatile.Write(ref state.Stop, true);
        var perCaller = await Task.WhenAll(tasks);

        // Every pair the callers finished must be on the books: committed at USD 20.00, nothing left reserved.
        var spend = await admin.GetDailySpendAsync(new DailySpendRequest { KeyId = LoadService.KeyId });
        var expected = state.Completed * LoadService.EstimateMicroUsd;
        if (spend.SettledMicroUsd != expected || spend.ReservedMicroUsd != 0)
        {
            Console.Error.WriteLine($"The service's books do not match the calls: settled {spend.SettledMicroUsd} (expected {expected}), reserved {spend.ReservedMicroUsd} (expected 0).");
            return null;
        }

        Report.Line($"Service: {callers} callers on one channel to {service.Address}, {duration.TotalSeconds:0} s measured; "
            + $"{Report.Number(state.Completed)} pairs in all, every one on the books.");
        Report.Line(jitLine);
        Report.Line();
        return new Measurement(endPairs - startPairs, ended - started, endCpu - startCpu, new Latencies(perCaller.SelectMany(l => l)));
    }

    private static async Task<Measurement?> MeasureRawLoopAsync(TimeSpan warmup, TimeSpan duration)
    {
        var directory = Directory.CreateTempSubdirectory("keybrake-raw-sqlite-").FullName;
        try
        {
            // A fresh file with the service's own schema: the service creates it on start; stopped, it lets go of it.
            var creator = await LoadService.StartAsync(directory);
            var path = creator.StoragePath;
            await creator.StopAsync();

            using var loop = new RawSqliteLoop(path);
            var (warmupTook, jitSettled) = await Jit.WarmUpAsync(
                () =>
                {
                    loop.Run(TimeSpan.FromSeconds(1));
                    return Task.CompletedTask;
                },
                warmup,
                TimeSpan.FromSeconds(60));
            var (jitBefore, methodsBefore, startCpu) = (Jit.CompilationTime, Jit.CompiledMethods, Report.ProcessorTime());
            var (pairs, ticks) = loop.Run(duration);
            var cpu = Report.ProcessorTime() - startCpu;
            var jitLine = Jit.Describe(warmupTook, jitSettled, Jit.CompilationTime - jitBefore, Jit.CompiledMethods - methodsBefore);
            var (settled, reserved) = loop.DayCounter();
            var expected = loop.TotalPairs * LoadService.EstimateMicroUsd;
            if (settled != expected || reserved != 0)
            {
                Console.Error.WriteLine($"The raw loop's books do not match: settled {settled} (expected {expected}), reserved {reserved} (expected 0).");
                return null;
            }

            Report.Line($"Raw loop: one thread, {duration.TotalSeconds:0} s measured, on a fresh file the service created; {Report.Number(loop.TotalPairs)} pairs in all, every one on the books.");
            Report.Line(jitLine);
            Report.Line();
            return new Measurement(pairs, ticks, cpu, null);
        }
        finally
        {
            try
            {
                Directory.Delete(directory, recursive: true);
            }
            catch (IOException)
            {
                // a file still held open: the temp folder is cleaned by the system
            }
        }
    }

    /// <summary>One caller: pairs back to back until told to stop; returns the latencies of the pairs it finished while measured.</summary>
    private static async Task<List<long>> CallerAsync(Protocol.Budget.BudgetClient client, CallerState state)
    {
        var latencies = new List<long>(64 * 1024);
        while (!Volatile.Read(ref state.Stop))
        {
            var started = Stopwatch.GetTimestamp();
            var authorization = await client.AuthorizeAsync(LoadService.Authorize(Interlocked.Increment(ref state.Sequence)));
            if (!authorization.Allowed || authorization.ReservationId.Length == 0)
            {
                throw new InvalidOperationException($"Authorize was not allowed ({authorization.Reason}: {authorization.Message}); the harness measures the allowed path only.");
            }

            var settled = await client.SettleAsync(LoadService.Commit(authorization.ReservationId));
            if (settled.Changed != 1)
            {
                throw new InvalidOperationException($"Settle changed {settled.Changed} reservations, not 1.");
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

    /// <summary>Pairs completed in the measured time, the time (Stopwatch ticks), the process's CPU time, and the pairs' latencies.</summary>
    private sealed record Measurement(long Pairs, long Ticks, TimeSpan Cpu, Latencies? Latencies)
    {
        public double PerSecond => Pairs / Report.Seconds(Ticks);

        public double CpuPerPair => Cpu.TotalMicroseconds / Pairs;
    }

    private sealed class CallerState
    {
        public long Sequence;
        public long Completed;
        public bool Measuring;
        public bool Stop;
    }
}
