using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using Google.Protobuf;
using Grpc.Net.Client;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Client.TestUtilities.Stripe;
using Keybrake.Protocol;

namespace Keybrake.Client.TestUtilities.Revocation;

/// <summary>
/// Revocation across processes, for the test and the load harness: a Stripe stand-in, the real budget service,
/// and K agent processes reading (and charging) through the guard in central mode without pause. Each trial
/// revokes the key through the admin API, waits for every agent's first denial, then restores it and waits for
/// every agent to be allowed again. See <see cref="RevocationTrial"/> and <see cref="AgentRevocationSummary"/>
/// for what is measured, and the agent's RevocationTracker for the rule on calls allowed after the point.
/// </summary>
/// <remarks>
/// The budget service runs as its own process (<see cref="BudgetServiceProcess"/>), not in this one: this process
/// hosts the stand-in, which answers every allowed call of every agent and allocates for each, and its garbage
/// collections would stall a service living here, so the push would wait for the harness. On its own, the service
/// has its own collector and threads, as it does in production. Every stamp is <see cref="Stopwatch.GetTimestamp"/>,
/// which on Linux is <c>CLOCK_MONOTONIC</c>: the agents' stamps and this process's compare as they are.
/// </remarks>
public sealed class RevocationTrials : IAsyncDisposable
{
    public const string KeyId = "revocation-agent";
    public const string BrakeKey = "vault_key_test_revocation_agent_0001";

    private readonly RevocationTrialOptions _options;
    private readonly string _folder;
    private readonly List<RevocationAgent> _agents = [];
    private readonly List<BudgetServiceProcess> _replicas = [];
    private readonly Random _random;
    private GrpcChannel? _channel;
    private BudgetAdmin.BudgetAdminClient? _admin;
    private HttpClient? _rest;

    private RevocationTrials(RevocationTrialOptions options, StripeStub stub, string folder)
    {
        _options = options;
        Stub = stub;
        _folder = folder;
        _random = new Random(options.Seed);
    }

    public StripeStub Stub { get; }

    /// <summary>The service (with replicas: the first, which the key is revoked and restored through).</summary>
    public BudgetServiceProcess Service { get; private set; } = null!;

    /// <summary>The index of the replica agent <paramref name="process"/> calls and watches.</summary>
    public int ReplicaOf(int process) => process % Math.Max(1, _options.Replicas);

    /// <summary>The agents' OS process ids, by index.</summary>
    public IReadOnlyList<int> ProcessIds => [.. _agents.Select(a => a.ProcessId)];

    /// <summary>The agents' audit outbox files, by index.</summary>
    public IReadOnlyList<string> Outboxes => [.. _agents.Select(a => a.OutboxPath)];

    /// <summary>Starts the stand-in, the service and the agents, and waits until every agent is calling and allowed.</summary>
    public static async Task<RevocationTrials> StartAsync(RevocationTrialOptions options)
    {
        var stub = StripeStub.Start();
        if (options.StubLogLimit is { } limit)
        {
            stub.Server.SetMaxRequestLogCount(limit);
        }

        var trials = new RevocationTrials(options, stub, Directory.CreateTempSubdirectory("keybrake-revocation-").FullName);
        try
        {
            await trials.StartAsync();
        }
        catch
        {
            await trials.DisposeAsync();
            throw;
        }

        return trials;
    }

    /// <summary>One trial: revoke, every agent denied, restore, every agent allowed again.</summary>
    public async Task<RevocationTrial> RunTrialAsync(int number)
    {
        // A random moment, so that no trial lines up with the stream's heartbeat or a timer in the agents.
        await Task.Delay(_options.AllowedFor + (_options.AllowedFor * _random.NextDouble()));

        var called = Stopwatch.GetTimestamp();
        var key = await RevokeAsync();
        var returned = Stopwatch.GetTimestamp();
        var denials = await Task.WhenAll(_agents.Select(a => a.ExpectAsync("revoked", number, _options.TransitionTimeout)));

        await Task.Delay(_options.RevokedFor);

        // The agents hear when the restoration began before it begins, so the time they get is never late.
        var restoring = Stopwatch.GetTimestamp();
        await Task.WhenAll(_agents.Select(a => a.RestoringAsync(number, restoring)));
        await Admin.RestoreKeyAsync(new KeyActionRequest { KeyId = KeyId });
        var restored = Stopwatch.GetTimestamp();
        var allowed = await Task.WhenAll(_agents.Select(a => a.ExpectAsync("allowed", number, _options.TransitionTimeout)));
        return new RevocationTrial(number, called, returned, denials, restoring, restored, allowed) { Delivery = key.Delivery };
    }

    /// <summary>The revoke call, through gRPC or (<see cref="RevocationTrialOptions.RevokeOverRest"/>) the REST path.</summary>
    private async Task<KeyInfo> RevokeAsync()
    {
        if (_rest is null)
        {
            return await Admin.RevokeKeyAsync(new KeyActionRequest { KeyId = KeyId });
        }

        using var content = new StringContent("{}", System.Text.Encoding.UTF8, "application/json");
        using var response = await _rest.PostAsync($"/v1/keys/{KeyId}/revoke", content);
        var body = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"The REST revoke answered {(int)response.StatusCode}: {body}");
        }

        return JsonParser.Default.Parse<KeyInfo>(body);
    }

    /// <summary>Stops every agent and returns their summaries, by index. Their outboxes are shipped by then.</summary>
    public async Task<IReadOnlyList<AgentRevocationSummary>> StopAgentsAsync()
    {
        return await Task.WhenAll(_agents.Select(a => a.StopAsync()));
    }

    /// <summary>
    /// Requests the stand-in received from a call the guard let through after it should not have: a read or a charge
    /// that entered the guard after its process's point and was forwarded before the restoration began, or a charge
    /// that entered it after the revoke call had returned (the service had the revocation then, and Authorize checks
    /// it) and was forwarded before the restoration began. Only meaningful with the stand-in's whole log (no <see cref="RevocationTrialOptions.StubLogLimit"/>).
    /// </summary>
    /// <returns>The requests labelled by an agent (the ones checked), and the late ones.</returns>
    public (int Checked, IReadOnlyList<string> Late) StubRequestsAfterThePoint(IReadOnlyList<RevocationTrial> trials, IReadOnlyList<AgentRevocationSummary> summaries)
    {
        var byProcess = summaries.ToDictionary(s => s.ProcessId);
        var late = new List<string>();
        var labelled = 0;
        foreach (var entry in Stub.Server.LogEntries)
        {
            var headers = entry.RequestMessage.Headers;
            if (headers is null
                || !headers.TryGetValue("X-Agent-Process", out var pid) || !int.TryParse(pid.FirstOrDefault(), CultureInfo.InvariantCulture, out var processId)
                || !headers.TryGetValue("X-Agent-Call-Started", out var stamp) || !long.TryParse(stamp.FirstOrDefault(), CultureInfo.InvariantCulture, out var started)
                || !headers.TryGetValue("X-Agent-Call-Forwarded", out var sent) || !long.TryParse(sent.FirstOrDefault(), CultureInfo.InvariantCulture, out var forwarded)
                || !byProcess.TryGetValue(processId, out var summary))
            {
                continue;
            }

            labelled++;

            var request = $"{entry.RequestMessage.Method} {entry.RequestMessage.Path} from agent {summary.Process}, entered the guard at {started}, forwarded at {forwarded}";
            if (summary.Revocations.LastOrDefault(r => r.DenialReturned < started) is { } seen && (seen.RestoreStarted is not { } restoring || forwarded < restoring))
            {
                late.Add($"{request}: after its point {seen.DenialReturned} of revocation {seen.Number}");
            }

            if (entry.RequestMessage.Method == "POST"
                && trials.FirstOrDefault(t => t.RevokeReturned < started && forwarded < t.RestoreStarted) is { } trial)
            {
                late.Add($"{request}: a charge after revocation {trial.Number} returned at {trial.RevokeReturned}");
            }
        }

        return (labelled, late);
    }

    public async ValueTask DisposeAsync()
    {
        await Task.WhenAll(_agents.Select(a => a.DisposeAsync().AsTask()));
        _channel?.Dispose();
        _rest?.Dispose();
        foreach (var replica in _replicas)
        {
            await replica.DisposeAsync();
        }

        Stub.Dispose();
        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (IOException)
        {
            // a file still held open: the temp folder is cleaned by the system
        }
    }

    private BudgetAdmin.BudgetAdminClient Admin => _admin ?? throw new InvalidOperationException("not started");

    private async Task StartAsync()
    {
        // A cap no trial can reach: the only denials are revocations.
        var settings = BudgetServiceHost.Key(KeyId, "1000000");
        if (_options.Leases)
        {
            settings[$"BudgetService:Keys:{KeyId}:Policy:Lease:Enabled"] = "true";
        }

        if (_options.KeyEventAckTimeout is { } ackTimeout)
        {
            settings["BudgetService:KeyEventAckTimeout"] = ackTimeout.ToString("c", CultureInfo.InvariantCulture);
        }

        if (_options.Postgres is { } postgres)
        {
            settings["BudgetService:Store"] = "PostgreSQL";
            settings["ConnectionStrings:Keybrake"] = postgres;
        }
        else if (_options.Replicas > 1)
        {
            throw new InvalidOperationException("Replicas share a PostgreSQL database: set Postgres.");
        }

        for (var replica = 0; replica < Math.Max(1, _options.Replicas); replica++)
        {
            _replicas.Add(await BudgetServiceProcess.StartAsync(settings, Directory.CreateDirectory(Path.Combine(_folder, $"service{replica}")).FullName, rest: _options.RevokeOverRest));
        }

        Service = _replicas[0];
        _channel = GrpcChannel.ForAddress(Service.Address);
        _admin = BudgetServiceHost.AdminClient(_channel);
        if (Service.RestAddress is { } rest)
        {
            _rest = new HttpClient { BaseAddress = rest };
            _rest.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", BudgetServiceHost.AdminToken);
        }

        var starting = Enumerable.Range(0, _options.Processes)
            .Select(i => RevocationAgent.StartAsync(i, _replicas[ReplicaOf(i)].Address, Stub.Url, _folder, _options))
            .ToList();
        try
        {
            await Task.WhenAll(starting);
        }
        finally
        {
            _agents.AddRange(starting.Where(s => s.IsCompletedSuccessfully).Select(s => s.Result));
        }

        await Task.WhenAll(_agents.Select(a => a.GoAsync()));
        await Task.WhenAll(_agents.Select(a => a.ExpectAsync("allowed", 0, _options.TransitionTimeout)));
    }
}
