using Keybrake.Client.TestUtilities.Postgres;
using Keybrake.Client.TestUtilities.Revocation;

namespace Keybrake.BudgetService.Load;

/// <summary>
/// Revocation propagation across processes (<see cref="RevocationTrials"/>): K agent processes read through the
/// guard in central mode without end; each trial revokes the key through the admin API and times from the revoke
/// call returning to the last process's first denial, then restores it and waits for every process to be allowed
/// again. The budget service runs as its own process; this one hosts the Stripe stand-in and coordinates. With
/// <c>--replicas N</c>, the service runs as N processes on one PostgreSQL database (a server started for the run), the
/// agents split between them, after a one-replica baseline on PostgreSQL in the same run.
/// </summary>
internal static class PropagationRun
{
    private const double MaxP99Milliseconds = 100;

    public static async Task<int> RunAsync(int processes, int trials, int tasks, int warmupTrials, int chargeEvery, int replicas)
    {
        Report.Title(replicas > 1 ? "Revocation propagation across processes and service replicas" : "Revocation propagation across processes");
        Report.Machine($"propagation --processes {processes} --trials {trials} --tasks {tasks} --warmup-trials {warmupTrials}{(chargeEvery > 0 ? $" --charge-every {chargeEvery}" : "")}{(replicas > 1 ? $" --replicas {replicas}" : "")}");

        // The stand-in's log would grow by every allowed call of every agent, and this process's collections with it:
        // the run keeps only the last requests, and checks calls against the points from the agents' own stamps.
        var options = new RevocationTrialOptions { Processes = processes, TasksPerProcess = tasks, ChargeEvery = chargeEvery, StubLogLimit = 1_000 };
        if (replicas <= 1)
        {
            return await PhaseAsync(options, trials, warmupTrials);
        }

        // Replicas share a PostgreSQL server (a throwaway one, started here). The baseline is one replica on it, in the
        // same run; then the replicas, the agents split between them, the key revoked through the first.
        await using var cluster = await PostgresCluster.StartAsync(CancellationToken.None);
        Report.Line("**Baseline: 1 replica on PostgreSQL, every agent on it.**");
        Report.Line();
        var baseline = await PhaseAsync(options with { Postgres = await cluster.CreateDatabaseAsync() }, trials, warmupTrials);
        Report.Line($"**{replicas} replicas on one PostgreSQL database: agent i on replica i mod {replicas}; revoked and restored through replica 0, "
            + "so the other replicas hear of it through LISTEN/NOTIFY.**");
        Report.Line();
        var across = await PhaseAsync(options with { Postgres = await cluster.CreateDatabaseAsync(), Replicas = replicas }, trials, warmupTrials);
        return baseline == 0 && across == 0 ? 0 : 1;
    }

    private static async Task<int> PhaseAsync(RevocationTrialOptions options, int trials, int warmupTrials)
    {
        var processes = options.Processes;
        var tasks = options.TasksPerProcess;
        var chargeEvery = options.ChargeEvery;
        await using var run = await RevocationTrials.StartAsync(options);
        Report.Line($"{processes} agent processes of {tasks} tasks each, reading{(chargeEvery > 0 ? $" (a charge every {chargeEvery} calls)" : "")} with a {options.PauseAfterAllowed.TotalMilliseconds:0} ms pause after each allowed call "
            + $"and {options.PauseAfterDenial.TotalMilliseconds:0} ms after each denial; the key stays revoked {options.RevokedFor.TotalMilliseconds:0} ms after the last first denial, "
            + $"then restored {options.AllowedFor.TotalMilliseconds:0}-{2 * options.AllowedFor.TotalMilliseconds:0} ms.");

        for (var number = 1; number <= warmupTrials; number++)
        {
            await run.RunTrialAsync(number);
        }

        var measured = new List<RevocationTrial>(trials);
        for (var number = warmupTrials + 1; number <= warmupTrials + trials; number++)
        {
            measured.Add(await run.RunTrialAsync(number));
            if (measured.Count % 10 == 0)
            {
                Console.Error.WriteLine($"{measured.Count}/{trials} trials");
            }
        }

        var summaries = await run.StopAgentsAsync();
        var measuredNumbers = measured.Select(t => t.Number).ToHashSet();
        var seen = summaries.SelectMany(s => s.Revocations).ToList();
        var allowedAfter = seen.Sum(r => r.AllowedAfterPoint);
        var across = seen.Sum(r => r.AllowedAcrossRestore);
        var inFlight = seen.Where(r => measuredNumbers.Contains(r.Number)).Sum(r => r.AllowedInFlight);
        var firstDenials = measured.SelectMany(t => t.FirstDenials.Select(d => d.Returned - t.RevokeReturned));

        // The revoke call returns once every process confirmed it applied the revocation (or after the service's
        // bound): a call that entered the guard after the call returned and was allowed breaks that promise.
        var byNumber = measured.ToDictionary(t => t.Number);
        // With replicas, the call waits for the streams of the replica it went to (replica 0) only: the promise holds
        // for its processes; the others' are counted apart (they hear of it through LISTEN/NOTIFY, after the return).
        var replicaOf = summaries.ToDictionary(s => s, s => run.ReplicaOf(s.Process));
        var afterReturn = summaries.SelectMany(s => s.Revocations.Select(r => (Replica: replicaOf[s], Seen: r)))
            .Where(x => byNumber.TryGetValue(x.Seen.Number, out var t) && x.Seen.LastAllowedStartedBefore > t.RevokeReturned)
            .ToList();
        var allowedAfterReturn = afterReturn.Count(x => x.Replica == 0);
        var allowedAfterReturnElsewhere = afterReturn.Count(x => x.Replica != 0);
        var onFirst = Enumerable.Range(0, processes).Count(process => run.ReplicaOf(process) == 0);
        var allConfirmed = measured.Count(t => t.Delivery is { } d && d.Confirmed == d.Processes && d.Processes == onFirst);

        Report.Line($"Warm-up: {warmupTrials} trials, not counted. Calls in all: {Report.Number(summaries.Sum(s => s.Calls))}, of which allowed "
            + $"{Report.Number(summaries.Sum(s => s.AllowedReads + s.AllowedCharges))}, denied key_revoked {Report.Number(summaries.Sum(s => s.DeniedFor("key_revoked")))}, "
            + $"other denials {Report.Number(summaries.Sum(s => s.Denied.Where(d => d.Key != "key_revoked").Sum(d => d.Value)))}, errors {Report.Number(summaries.Sum(s => s.Errors.Values.Sum()))}.");
        Report.Line();

        var propagation = new Latencies(measured.Select(t => t.FirstDenials.Max(d => d.Returned) - t.RevokeReturned));
        var fromCall = new Latencies(measured.Select(t => t.FirstDenials.Max(d => d.Returned) - t.RevokeCalled));
        var revokeCall = new Latencies(measured.Select(t => t.RevokeReturned - t.RevokeCalled));
        var each = new Latencies(firstDenials);
        List<string[]> rows =
        [
            Row("Propagation: revoke call returned -> last process's first denial", propagation),
            Row("Revoke call made -> last process's first denial", fromCall),
            Row("Revoke call made -> returned (every process confirmed, or the 1 s bound)", revokeCall),
            Row("Revoke call returned -> each process's first denial", each),
        ];
        for (var replica = 0; options.Replicas > 1 && replica < options.Replicas; replica++)
        {
            var on = replica;
            rows.Add(Row($"... processes on replica {on}{(on == 0 ? " (revoked through it)" : " (LISTEN/NOTIFY)")}",
                new Latencies(measured.SelectMany(t => t.FirstDenials.Where(d => run.ReplicaOf(d.Process) == on).Select(d => d.Returned - t.RevokeReturned)))));
        }

        Report.Table(["Measured (ms)", "n", "p50", "p95", "p99", "max", "mean"], rows);

        Report.Line($"Revoke replies: {(options.Replicas > 1 ? "the processes on the replica the call went to (a replica counts its own streams), " : "")}all {onFirst} confirmed in {allConfirmed} of {measured.Count} trials "
            + $"(fewest confirmations: {measured.Min(t => t.Delivery?.Confirmed ?? 0)}).");
        Report.Line();

        var p99 = propagation.Percentile(99) / 1000;
        Report.Line("Goals:");
        Report.Verdict($"propagation p99 <= {MaxP99Milliseconds:0} ms", $"{p99:0.0} ms over {propagation.Count} trials", p99 <= MaxP99Milliseconds);
        Report.Verdict("no call allowed after the point", $"{allowedAfter} allowed (besides: {inFlight} decided before the point that came back after it, in flight; {across} that entered the guard between the point and the restoration and were forwarded after it began)", allowedAfter == 0);
        Report.Verdict(
            options.Replicas > 1 ? "no call allowed that entered the guard after the revoke call returned, on the replica that took it" : "no call allowed that entered the guard after the revoke call returned",
            $"{allowedAfterReturn} revocations (process x trial) with one", allowedAfterReturn == 0);
        if (options.Replicas > 1)
        {
            Report.Line($"  (on the other replicas, which the call does not wait for: {allowedAfterReturnElsewhere} revocations (process x trial) with a call allowed after the return)");
        }

        Report.Line();
        Report.LoadAtEnd();
        return allowedAfter == 0 && allowedAfterReturn == 0 ? 0 : 1;
    }

    private static string[] Row(string name, Latencies latencies) =>
        [name, Report.Number(latencies.Count), Ms(latencies.Percentile(50)), Ms(latencies.Percentile(95)), Ms(latencies.Percentile(99)), Ms(latencies.Max), Ms(latencies.Mean)];

    private static string Ms(double microseconds) => Report.Number(microseconds / 1000, "0.0");
}
