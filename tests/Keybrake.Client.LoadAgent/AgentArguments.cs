using System.Globalization;
using Microsoft.Extensions.Logging;

namespace Keybrake.Client.LoadAgent;

/// <summary>The agent's command line: <c>--name value</c> pairs, and the flag <c>--wait-for-go</c>.</summary>
internal sealed record AgentArguments
{
    public const string Usage =
        """
        Keybrake.Client.LoadAgent: Stripe calls through the guard in central mode, then one JSON summary line on stdout.
          --mode <charges|revocation|outbox-writes>  charges: charge until done (the default). outbox-writes: after
                                    "ready" and a line on stdin, write --records audit records (--tasks at a time)
                                    to the outbox and print their write latencies (OutboxWriteRun.cs). revocation: reads (and, with
                                    --charge-every, charges) until stdin says "stop" or closes, printing each
                                    revocation and restoration it sees (see Revocation/RevocationTracker.cs)
          --service <uri>[,<uri>]   the budget service, or its replicas separated by commas (required)
          --client-token-file <path>  a file holding the client credential the guard presents (required)
          --stripe <url|stub>       Stripe's API base, such as a stand-in (required); stub: an in-process handler behind the
                                    guard answers every call (a charge of USD 20.00), with no network hop
          --guard <central|none>    central: Stripe.net through the guard in central mode (the default); none: the same
                                    Stripe.net client with no guard (with --stripe stub only), a baseline for load runs
          --key-id <id>             the key id, as the service knows it (required)
          --brake-key <key>         the vault_key_... the Stripe client presents (required)
          --secret <sk|none>        the vendor secret the guard puts in its place (default sk_test_load_agent); none
                                    configures no secret, so the guard fetches the one the budget service holds
          --stamp-start             each charge carries metadata[started_us]: when its task began it (Unix microseconds)
          --outbox <path>           the audit outbox path (required): the agent writes its own file beside it
          --tasks <n>               concurrent tasks (default 16)
          --charges <n|until-denied>  charges per task, or until the task is denied (default until-denied)
          --stop-on <reason>        with until-denied: only this denial reason stops a task (default: any)
          --pause-after-denial-ms <n>  how long a task waits after a denial that did not stop it (default 50)
          --max-charges <n>         a bound on each task's charges, whatever else (default 100000)
          --min-cents <n> --max-cents <n>  the range of each charge's amount, in US cents (default 100 to 1000)
          --run-id <id>             the agent run the charges belong to (default: none)
          --seed <n>                seeds the amounts (default 0)
          --call-timeout-ms <n>     the deadline of each call to the budget service (default: the guard's)
          --total-timeout-ms <n>    the most one call to the budget service may take, retries included (default: the guard's)
          --until-stop              charges mode: tasks charge (pausing --pause-ms after each allowed charge) until
                                    stdin says "stop" or closes, whatever the denials; then the agent shuts down.
                                    A line "mark" on stdin is answered with "mark <charges allowed so far>"
          --log-level <level>       the least level logged to stderr (default Error)
          --charge-every <n>        revocation mode: every n-th call of a task is a charge, the rest reads (default 0: reads only)
          --pause-ms <n>            revocation mode: how long a task waits after an allowed call (default 0)
          --wait-for-go             print "ready" once set up, then wait for a line on stdin before charging
        """;

    /// <summary>Whether the agent charges until done, or calls until stopped while keys are revoked and restored.</summary>
    public AgentMode Mode { get; init; } = AgentMode.Charges;

    public required Uri Service { get; init; }

    /// <summary>Every replica given to <c>--service</c>; more than one makes the guard fail over between them.</summary>
    public IReadOnlyList<Uri> Services { get; init; } = [];

    /// <summary>The file holding the client credential: a file, not an argument, so that no process listing shows it.</summary>
    public required string ClientTokenFile { get; init; }

    public required string Stripe { get; init; }

    /// <summary>Whether the charges go to the stub with no guard (<c>--guard none</c>): the baseline of a load run.</summary>
    public bool Unguarded { get; init; }

    /// <summary>Whether an in-process handler answers for Stripe (<c>--stripe stub</c>).</summary>
    public bool StubStripe => Stripe == "stub";

    public required string KeyId { get; init; }

    public required string BrakeKey { get; init; }

    /// <summary>The key's VendorSecret; empty for none (the budget service's, fetched by the guard).</summary>
    public string Secret { get; init; } = "sk_test_load_agent";

    /// <summary>Whether each charge carries, in its metadata, when its task began it.</summary>
    public bool StampStart { get; init; }

    public required string Outbox { get; init; }

    public int Tasks { get; init; } = 16;

    /// <summary>Charges per task; <see langword="null"/> for "until denied".</summary>
    public int? Charges { get; init; }

    public string? StopOn { get; init; }

    public TimeSpan PauseAfterDenial { get; init; } = TimeSpan.FromMilliseconds(50);

    public int MaxCharges { get; init; } = 100_000;

    public long MinCents { get; init; } = 100;

    public long MaxCents { get; init; } = 1_000;

    public string? RunId { get; init; }

    public int Seed { get; init; }

    /// <summary>The deadline of each call to the budget service; <see langword="null"/> for the guard's default.</summary>
    public TimeSpan? CallTimeout { get; init; }

    /// <summary>The total budget of each call to the budget service; <see langword="null"/> for the guard's default.</summary>
    public TimeSpan? TotalTimeout { get; init; }

    public LogLevel LogLevel { get; init; } = LogLevel.Error;

    public bool WaitForGo { get; init; }

    /// <summary>In charges mode, whether tasks charge until told to stop (rather than until a count or a denial).</summary>
    public bool UntilStop { get; init; }

    /// <summary>In revocation mode, every n-th call of a task is a charge; 0 for reads only.</summary>
    public int ChargeEvery { get; init; }

    /// <summary>In outbox-writes mode, how many audit records to write.</summary>
    public int Records { get; init; } = 10_000;

    /// <summary>In revocation mode, how long a task waits after an allowed call.</summary>
    public TimeSpan Pause { get; init; }

    public static AgentArguments Parse(string[] args)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        var waitForGo = false;
        var untilStop = false;
        var stampStart = false;
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i] == "--wait-for-go")
            {
                waitForGo = true;
            }
            else if (args[i] == "--until-stop")
            {
                untilStop = true;
            }
            else if (args[i] == "--stamp-start")
            {
                stampStart = true;
            }
            else if (args[i].StartsWith("--", StringComparison.Ordinal) && i + 1 < args.Length)
            {
                values[args[i][2..]] = args[++i];
            }
            else
            {
                throw new ArgumentException($"unexpected argument '{args[i]}'");
            }
        }

        string Required(string name) => values.Remove(name, out var value) ? value : throw new ArgumentException($"--{name} is required");
        string? Optional(string name) => values.Remove(name, out var value) ? value : null;
        int Int(string name, int fallback) => Optional(name) is { } text ? int.Parse(text, CultureInfo.InvariantCulture) : fallback;

        var charges = Optional("charges") ?? "until-denied";
        var services = Required("service").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(entry => new Uri(entry)).ToList();
        var parsed = new AgentArguments
        {
            Mode = Optional("mode") switch
            {
                null or "charges" => AgentMode.Charges,
                "revocation" => AgentMode.Revocation,
                "outbox-writes" => AgentMode.OutboxWrites,
                var other => throw new ArgumentException($"--mode must be charges or revocation, not '{other}'"),
            },
            Services = services,
            Service = services[0],
            ClientTokenFile = Required("client-token-file"),
            Stripe = Required("stripe"),
            Unguarded = Optional("guard") switch
            {
                null or "central" => false,
                "none" => true,
                var other => throw new ArgumentException($"--guard must be central or none, not '{other}'"),
            },
            KeyId = Required("key-id"),
            BrakeKey = Required("brake-key"),
            Secret = Optional("secret") switch { null => "sk_test_load_agent", "none" => string.Empty, var given => given },
            StampStart = stampStart,
            Outbox = Required("outbox"),
            Tasks = Int("tasks", 16),
            Charges = charges == "until-denied" ? null : int.Parse(charges, CultureInfo.InvariantCulture),
            StopOn = Optional("stop-on"),
            PauseAfterDenial = TimeSpan.FromMilliseconds(Int("pause-after-denial-ms", 50)),
            MaxCharges = Int("max-charges", 100_000),
            MinCents = Int("min-cents", 100),
            MaxCents = Int("max-cents", 1_000),
            RunId = Optional("run-id"),
            Seed = Int("seed", 0),
            CallTimeout = Optional("call-timeout-ms") is { } timeout ? TimeSpan.FromMilliseconds(int.Parse(timeout, CultureInfo.InvariantCulture)) : null,
            TotalTimeout = Optional("total-timeout-ms") is { } total ? TimeSpan.FromMilliseconds(int.Parse(total, CultureInfo.InvariantCulture)) : null,
            UntilStop = untilStop,
            LogLevel = Enum.Parse<LogLevel>(Optional("log-level") ?? nameof(LogLevel.Error), ignoreCase: true),
            WaitForGo = waitForGo,
            ChargeEvery = Int("charge-every", 0),
            Pause = TimeSpan.FromMilliseconds(Int("pause-ms", 0)),
            Records = Int("records", 10_000),
        };

        if (values.Count > 0)
        {
            throw new ArgumentException($"unknown argument --{values.Keys.First()}");
        }

        if (parsed.Tasks < 1 || parsed.MinCents < 50 || parsed.MaxCents < parsed.MinCents)
        {
            throw new ArgumentException("--tasks must be at least 1, and 50 <= --min-cents <= --max-cents (Stripe's minimum charge is 50 cents)");
        }

        if (parsed.Unguarded && (!parsed.StubStripe || parsed.Mode != AgentMode.Charges))
        {
            throw new ArgumentException("--guard none goes with --stripe stub in charges mode only: it is the baseline of a load run");
        }

        if (parsed.ChargeEvery < 0 || parsed.Pause < TimeSpan.Zero || parsed.PauseAfterDenial < TimeSpan.Zero)
        {
            throw new ArgumentException("--charge-every, --pause-ms and --pause-after-denial-ms cannot be negative");
        }

        return parsed;
    }
}

/// <summary>What the agent does once it is set up.</summary>
internal enum AgentMode
{
    /// <summary>Concurrent tasks charge until their count is done or they are denied.</summary>
    Charges,

    /// <summary>Concurrent tasks call until told to stop, while an operator revokes and restores the key.</summary>
    Revocation,

    /// <summary>Concurrent tasks write audit records to the outbox, timing each write.</summary>
    OutboxWrites,
}
