using System.Globalization;
using System.Text.Json;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Client.TestUtilities.Processes;

namespace Keybrake.Client.TestUtilities.Revocation;

/// <summary>
/// One agent process (Keybrake.Client.LoadAgent in revocation mode, which the test project must reference) and the
/// lines it reports: each revocation and restoration it saw, then its summary.
/// </summary>
internal sealed class RevocationAgent : IAsyncDisposable
{
    private static readonly TimeSpan s_startTimeout = TimeSpan.FromSeconds(90);
    private static readonly TimeSpan s_stopTimeout = TimeSpan.FromSeconds(60);

    private readonly DotnetProcess _process;

    private RevocationAgent(int index, DotnetProcess process, string outbox)
    {
        Index = index;
        _process = process;
        OutboxPath = outbox;
    }

    public int Index { get; }

    public int ProcessId => _process.Id;

    public string OutboxPath { get; }

    public string Diagnostics => _process.Diagnostics;

    /// <summary>Starts an agent and waits until it says "ready": set up, warmed up, its key event stream current.</summary>
    public static async Task<RevocationAgent> StartAsync(int index, Uri service, string stripe, string folder, RevocationTrialOptions options)
    {
        var outbox = Path.Combine(folder, $"agent{index}-outbox.db");
        string[] arguments =
        [
            "--mode", "revocation", "--service", service.ToString(), "--client-token-file", BudgetServiceHost.WriteClientTokenFile(folder), "--stripe", stripe,
            "--key-id", RevocationTrials.KeyId, "--brake-key", RevocationTrials.BrakeKey, "--outbox", outbox,
            "--tasks", Invariant(options.TasksPerProcess), "--charge-every", Invariant(options.ChargeEvery),
            "--pause-ms", Invariant((int)options.PauseAfterAllowed.TotalMilliseconds),
            "--pause-after-denial-ms", Invariant((int)options.PauseAfterDenial.TotalMilliseconds),
            "--min-cents", "50", "--max-cents", "60", "--seed", Invariant((options.Seed * 1_000) + index),

            // Agents starting together on a small machine spend their first seconds compiling; the default deadline
            // would turn that into an outage. Deadlines are not what this measures.
            "--call-timeout-ms", "5000",
            "--log-level", "Warning", "--wait-for-go",
        ];
        var process = await DotnetProcess.StartReadyAsync("Keybrake.Client.LoadAgent.dll", arguments, s_startTimeout, $"Agent {index}");
        return new RevocationAgent(index, process, outbox);
    }

    public Task GoAsync() => _process.WriteLineAsync("go");

    public Task RestoringAsync(int number, long timestamp) => _process.WriteLineAsync(Invariant($"restoring {number} {timestamp}"));

    /// <summary>
    /// Waits for the agent's next line, which must be <c>&lt;what&gt; &lt;number&gt; ...</c>. For "revoked" the two
    /// stamps are the first denial's return and start; for "allowed", the first allowed call's start and return.
    /// </summary>
    public async Task<ProcessTransition> ExpectAsync(string what, int number, TimeSpan timeout)
    {
        var line = await _process.ReadLineAsync(timeout);
        var parts = line?.Split(' ');
        if (parts is not [var word, var n, var first, var second, var kind] || word != what || n != Invariant(number))
        {
            throw new InvalidOperationException($"Agent {Index} said '{line}' where '{what} {number} ...' was expected.\n{Diagnostics}");
        }

        var (a, b) = (long.Parse(first, CultureInfo.InvariantCulture), long.Parse(second, CultureInfo.InvariantCulture));
        return what == "revoked" ? new ProcessTransition(Index, Started: b, Returned: a, kind) : new ProcessTransition(Index, Started: a, Returned: b, kind);
    }

    /// <summary>Tells the agent to stop, and returns its summary once it has exited (its outbox shipped).</summary>
    public async Task<AgentRevocationSummary> StopAsync()
    {
        await _process.WriteLineAsync("stop");
        var line = await _process.ReadLineAsync(s_stopTimeout);
        var exitCode = await _process.WaitForExitAsync(s_stopTimeout);
        if (exitCode != 0 || line is null)
        {
            throw new InvalidOperationException($"Agent {Index} exited with code {exitCode} and summary '{line}'.\n{Diagnostics}");
        }

        var summary = JsonSerializer.Deserialize<AgentRevocationSummary>(line, JsonSerializerOptions.Web)
            ?? throw new InvalidOperationException($"Agent {Index}'s summary is empty.\n{Diagnostics}");
        return summary with { Process = Index, ProcessId = ProcessId };
    }

    public ValueTask DisposeAsync() => _process.DisposeAsync();

    private static string Invariant(int value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
