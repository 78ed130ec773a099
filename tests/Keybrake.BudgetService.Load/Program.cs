using System.Globalization;
using Keybrake.BudgetService.Load;

// The budget service's load harness. Each mode starts the real service in this process on a loopback port
// (a fresh SQLite file in a temporary folder), measures it against a baseline taken in the same run, and
// prints a result table and the goal verdicts. See docs/benchmarks.md, "Budget service".
//
//   latency     [--warmup 2000] [--calls 20000] [--tls] [--postgres]
//   throughput  [--callers 64] [--warmup-seconds 3] [--seconds 20] [--raw-seconds 10]
//   pg-throughput [--callers 64] [--keys 1000] [--warmup-seconds 5] [--seconds 10]
//     (PostgreSQL started by the harness; the service as one and two processes: see PostgresThroughputRun.cs)
//   propagation [--processes 8] [--trials 100] [--tasks 2] [--warmup-trials 5] [--charge-every N] [--replicas N]
//     (the service as its own process, agents as processes: see PropagationRun.cs)
//   lease-throughput [--processes 8] [--tasks 16] [--warmup-seconds 5] [--seconds 10] [--with-lease | --without-lease]
//     (agent processes charging one key through an in-process Stripe stub: see LeaseThroughputRun.cs)
//   outbox      [--processes 8] [--records 20000] [--tasks 4]
//     (agent processes sharing the default audit outbox file: see OutboxRun.cs)

const string Usage = """
    Usage: Keybrake.BudgetService.Load <mode> [options]

      latency      One caller, Ping and Authorize interleaved on one channel.
                   --warmup N           calls of each before measuring, at least (default 2000)
                   --calls N            measured calls of each (default 20000)
                   --tls                also a second service listening with TLS (a CA made for the run), measured
                                        in the same loop: the h2c and TLS figures side by side, and what TLS costs
                   --postgres           the service keeps its books in PostgreSQL (a server the harness starts)

      throughput   Authorize + Settle pairs from concurrent callers, then a raw SQLite loop of the same transaction.
                   --callers N          concurrent callers (default 64)
                   --warmup-seconds S   before each measurement, at least (default 3)
                   --seconds S          measured, against the service (default 20)
                   --raw-seconds S      measured, the raw SQLite loop (default 10)

      pg-throughput  Authorize + Settle pairs on PostgreSQL (a server the harness starts): the service as one and as two
                   replica processes on one database, callers split between them, on one hot key and on many keys;
                   for each key shape, a raw Npgsql loop of the store's transactions with as many workers.
                   --callers N          concurrent callers, and raw loop workers (default 64)
                   --keys N             keys in the spread-out shape (default 1000)
                   --warmup-seconds S   before each measurement, at least (default 5)
                   --seconds S          measured, each run (default 10)

      propagation  Agent processes read through the guard in central mode without end; the key is revoked through
                   the admin API and restored, again and again. Time from the revoke call returning to the last
                   process's first denial, and every call allowed after a process's first denial counted.
                   --processes N        agent processes (default 8)
                   --trials N           measured revocations (default 100)
                   --tasks N            calling tasks per agent (default 2)
                   --warmup-trials N    revocations before the measured ones (default 5)
                   --charge-every N     every N-th call of a task is a small charge (default: reads only)
                   --replicas N         N service processes on one PostgreSQL database (a throwaway server started
                                        for the run), agents split between them, revoked through the first; after a
                                        baseline of 1 replica on PostgreSQL in the same run (default 1: SQLite)

      lease-throughput  Guarded charges per second on ONE key from agent processes (Stripe.net through the guard in
                   central mode, an in-process Stripe stub behind it), the key's policy without and with budget leases
                   (Lease:Enabled false, then true, each on a fresh service), and the RPCs per 1,000 charges by method;
                   after a baseline in the same run: the same agents with no guard (Stripe.net and the stub alone).
                   --processes N        agent processes (default 8)
                   --tasks N            charging tasks per agent (default 16)
                   --warmup-seconds S   before the measured window (default 5)
                   --seconds S          measured (default 10)
                   --with-lease         only the phase with leases
                   --without-lease      only the phase without

      outbox       Agent processes share the default audit outbox file and write records as guarded calls do, while
                   shipping them to the service; how long one write (the part of a call that waits on the file) takes.
                   --processes N        agent processes (default 8; a one-process round runs first)
                   --records N          records per process (default 20000)
                   --tasks N            concurrent writers per process (default 4)

    The latency and throughput warm-ups go on past its minimum until the JIT has settled (three one-second steps in a row with
    under 1% of the time spent compiling), for at most 60 s; the output says how long it took and what the
    JIT did during the measurement.
    """;

if (args.Length == 0 || args[0] is "-h" or "--help")
{
    Console.WriteLine(Usage);
    return args.Length == 0 ? 2 : 0;
}

// Options that take no value.
string[] flags = args[0] switch
{
    "latency" => ["tls", "postgres"],
    "lease-throughput" => ["with-lease", "without-lease"],
    _ => [],
};

string[] known = args[0] switch
{
    "latency" => ["warmup", "calls"],
    "throughput" => ["callers", "warmup-seconds", "seconds", "raw-seconds"],
    "pg-throughput" => ["callers", "keys", "warmup-seconds", "seconds"],
    "propagation" => ["processes", "trials", "tasks", "warmup-trials", "charge-every", "replicas"],
    "outbox" => ["processes", "records", "tasks"],
    "lease-throughput" => ["processes", "tasks", "warmup-seconds", "seconds"],
    _ => [],
};

Dictionary<string, int> options;
HashSet<string> setFlags;
try
{
    setFlags = [.. args.Skip(1).Where(a => a.StartsWith("--", StringComparison.Ordinal) && flags.Contains(a[2..])).Select(a => a[2..])];
    options = ParseOptions([.. args.Skip(1).Where(a => !(a.StartsWith("--", StringComparison.Ordinal) && flags.Contains(a[2..])))], known);
}
catch (FormatException exception)
{
    Console.Error.WriteLine(exception.Message);
    Console.Error.WriteLine(Usage);
    return 2;
}

int Option(string name, int fallback) => options.GetValueOrDefault(name, fallback);

switch (args[0])
{
    case "latency":
        return await LatencyRun.RunAsync(Option("warmup", 2_000), Option("calls", 20_000), setFlags.Contains("tls"), setFlags.Contains("postgres"));
    case "throughput":
        return await ThroughputRun.RunAsync(
            Option("callers", 64),
            TimeSpan.FromSeconds(Option("warmup-seconds", 3)),
            TimeSpan.FromSeconds(Option("seconds", 20)),
            TimeSpan.FromSeconds(Option("raw-seconds", 10)));
    case "pg-throughput":
        return await PostgresThroughputRun.RunAsync(
            Option("callers", 64),
            Option("keys", 1_000),
            TimeSpan.FromSeconds(Option("warmup-seconds", 5)),
            TimeSpan.FromSeconds(Option("seconds", 10)));
    case "propagation":
        return await PropagationRun.RunAsync(Option("processes", 8), Option("trials", 100), Option("tasks", 2), Option("warmup-trials", 5), Option("charge-every", 0), Option("replicas", 1));
    case "lease-throughput":
        var onlyWith = setFlags.Contains("with-lease");
        var onlyWithout = setFlags.Contains("without-lease");
        return await LeaseThroughputRun.RunAsync(
            Option("processes", 8),
            Option("tasks", 16),
            TimeSpan.FromSeconds(Option("warmup-seconds", 5)),
            TimeSpan.FromSeconds(Option("seconds", 10)),
            without: onlyWithout || !onlyWith,
            with: onlyWith || !onlyWithout);
    case "outbox":
        return await OutboxRun.RunAsync(Option("processes", 8), Option("records", 20_000), Option("tasks", 4));
    default:
        Console.Error.WriteLine($"Unknown mode '{args[0]}'.");
        Console.Error.WriteLine(Usage);
        return 2;
}

static Dictionary<string, int> ParseOptions(ReadOnlySpan<string> rest, string[] known)
{
    var parsed = new Dictionary<string, int>(StringComparer.Ordinal);
    for (var i = 0; i < rest.Length; i += 2)
    {
        if (!rest[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= rest.Length
            || !int.TryParse(rest[i + 1], NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value <= 0)
        {
            throw new FormatException($"Expected '--name <positive number>' at '{rest[i]}'.");
        }

        var name = rest[i][2..];
        if (!known.Contains(name))
        {
            throw new FormatException($"Unknown option '{rest[i]}'.");
        }

        parsed[name] = value;
    }

    return parsed;
}
