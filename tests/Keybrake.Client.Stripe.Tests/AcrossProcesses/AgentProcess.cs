using System.Globalization;
using System.Text.Json;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Client.TestUtilities.Processes;

namespace Keybrake.Client.Stripe.Tests;

/// <summary>
/// One agent process (Keybrake.Client.LoadAgent, built with these tests): concurrent tasks making Stripe
/// charges through the real Stripe.net client, guarded in central mode. It sets itself up, says "ready", and
/// starts charging when told to, so that several agents charge at the same time.
/// </summary>
internal sealed class AgentProcess : IAsyncDisposable
{
    public const string BrakeKey = "vault_key_test_load_agent_0000000001";

    /// <summary>
    /// The deadline of each call to the budget service. Four processes starting together on a small machine spend
    /// their first seconds compiling code, and the default of 500 ms would turn that into an outage (denied,
    /// fail-closed calls). These tests are about caps and outages, not latency, so they allow more.
    /// </summary>
    public const string CallTimeoutMilliseconds = "5000";
    private static readonly TimeSpan s_startTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan s_runTimeout = TimeSpan.FromSeconds(120);

    private readonly DotnetProcess _process;

    private AgentProcess(DotnetProcess process, string runId, string outboxPath)
    {
        _process = process;
        RunId = runId;
        OutboxPath = outboxPath;
    }

    public string RunId { get; }

    public string OutboxPath { get; }

    public string Diagnostics => _process.Diagnostics;

    /// <summary>Starts an agent and waits until it is set up; it charges once <see cref="GoAsync"/> is called.</summary>
    /// <param name="service">The budget service.</param>
    /// <param name="stripe">The Stripe stand-in's URL.</param>
    /// <param name="keyId">The key, as the service knows it.</param>
    /// <param name="folder">Where the agent keeps its audit outbox.</param>
    /// <param name="runId">The agent run its charges belong to (and the prefix of their idempotency keys).</param>
    /// <param name="seed">Seeds the amounts.</param>
    /// <param name="arguments">More arguments, such as <c>--tasks 16</c> (see the agent's usage).</param>
    public static Task<AgentProcess> StartAsync(Uri service, string stripe, string keyId, string folder, string runId, int seed, params string[] arguments) =>
        StartWithOutboxAsync(service, stripe, keyId, folder, Path.Combine(folder, runId + "-outbox.db"), runId, seed, arguments);

    /// <summary>Starts an agent with several replicas of the service in its address list (<c>Keybrake:BudgetService:Addresses</c>).</summary>
    public static Task<AgentProcess> StartOnReplicasAsync(IReadOnlyList<Uri> replicas, string stripe, string keyId, string folder, string runId, int seed, params string[] arguments) =>
        StartCoreAsync(string.Join(',', replicas), stripe, keyId, folder, Path.Combine(folder, runId + "-outbox.db"), runId, seed, arguments);

    /// <summary>Starts an agent configured with <paramref name="outbox"/> as its <c>OutboxPath</c>, which other agents may share.</summary>
    public static Task<AgentProcess> StartWithOutboxAsync(Uri service, string stripe, string keyId, string folder, string outbox, string runId, int seed, params string[] arguments) =>
        StartCoreAsync(service.ToString(), stripe, keyId, folder, outbox, runId, seed, arguments);

    private static async Task<AgentProcess> StartCoreAsync(string service, string stripe, string keyId, string folder, string outbox, string runId, int seed, string[] arguments)
    {
        string[] all =
        [
            "--service", service, "--client-token-file", BudgetServiceHost.WriteClientTokenFile(folder), "--stripe", stripe, "--key-id", keyId, "--brake-key", BrakeKey,
            "--outbox", outbox, "--run-id", runId, "--seed", seed.ToString(CultureInfo.InvariantCulture), "--wait-for-go",
            "--call-timeout-ms", CallTimeoutMilliseconds, "--log-level", "Warning",
            .. arguments,
        ];
        var process = await DotnetProcess.StartReadyAsync("Keybrake.Client.LoadAgent.dll", all, s_startTimeout);
        return new AgentProcess(process, runId, outbox);
    }

    /// <summary>Starts every agent at once, and all of them charging together once all are set up.</summary>
    public static async Task<AgentProcess[]> StartTogetherAsync(IEnumerable<Func<Task<AgentProcess>>> starts, List<AgentProcess> owned)
    {
        var starting = starts.Select(start => start()).ToList();
        try
        {
            await Task.WhenAll(starting);
        }
        finally
        {
            owned.AddRange(starting.Where(s => s.IsCompletedSuccessfully).Select(s => s.Result));
        }

        var agents = starting.Select(s => s.Result).ToArray();
        await Task.WhenAll(agents.Select(a => a.GoAsync()));
        return agents;
    }

    public Task GoAsync() => _process.WriteLineAsync("go");

    /// <summary>Tells an agent started with <c>--until-stop</c> to stop charging and shut down.</summary>
    public async Task StopAsync()
    {
        try
        {
            await _process.WriteLineAsync("stop");
        }
        catch (IOException) when (_process.HasExited)
        {
            // it already exited (crashed): FinishAsync reports how, with its output
        }
    }

    /// <summary>Waits for the agent to finish, and returns its summary.</summary>
    public async Task<AgentReport> FinishAsync()
    {
        var line = await _process.ReadLineAsync(s_runTimeout);
        var exitCode = await _process.WaitForExitAsync(s_runTimeout);
        if (exitCode != 0 || line is null)
        {
            throw new InvalidOperationException($"The agent exited with code {exitCode} and summary '{line}'.\n{Diagnostics}");
        }

        return JsonSerializer.Deserialize<AgentReport>(line, JsonSerializerOptions.Web)
            ?? throw new InvalidOperationException($"The agent's summary is empty.\n{Diagnostics}");
    }

    /// <summary>
    /// How many audit records waiting in the agent's outbox (not yet at the service) carry <paramref name="reason"/>.
    /// The agent writes each record there before its call returns, so this shows what it has decided even while
    /// the service cannot take the records.
    /// </summary>
    public int WaitingInOutbox(string reason)
    {
        return Keybrake.Client.TestUtilities.Outbox.OutboxFileSet.Payloads(OutboxPath)
            .Count(payload => Protocol.AuditRecord.Parser.ParseFrom(payload).Reason == reason);
    }

    /// <summary>Kills the agent process at once, as a crash would.</summary>
    public Task KillAsync() => _process.KillAsync();

    public ValueTask DisposeAsync() => _process.DisposeAsync();
}

/// <summary>An agent's summary line. <see cref="WarmUps"/> are reads made before the charges, outside the run; <see cref="Calls"/> are the charges.</summary>
internal sealed record AgentReport(string RunId, int WarmUps, int Calls, int Allowed, long AllowedCents, Dictionary<string, int> Denied, Dictionary<string, int> Errors)
{
    public int DeniedFor(string reason) => Denied.GetValueOrDefault(reason);
}
