using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Client.TestUtilities.Processes;

namespace Keybrake.Client.Twilio.Tests;

/// <summary>
/// One agent process (Keybrake.Client.TwilioAgent, built with these tests): the real Twilio SDK guarded in central
/// mode against the budget service, its Twilio requests sent to the stand-in. It sends and fetches messages when told.
/// </summary>
internal sealed class TwilioAgentProcess : IAsyncDisposable
{
    private static readonly TimeSpan s_startTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan s_callTimeout = TimeSpan.FromSeconds(60);

    private readonly DotnetProcess _process;

    private TwilioAgentProcess(DotnetProcess process)
    {
        _process = process;
    }

    public string Diagnostics => _process.Diagnostics;

    /// <summary>Starts an agent for the key of <see cref="TwilioGuardHost"/> and waits until it is set up.</summary>
    /// <param name="service">The budget service.</param>
    /// <param name="twilioStub">The Twilio stand-in's URL.</param>
    /// <param name="folder">Where the agent keeps its outbox and reads its client credential.</param>
    /// <param name="arguments">More, such as <c>--reconcile-ttl-ms 3000 --process-name agent-one</c> (see the agent's Program.cs).</param>
    public static async Task<TwilioAgentProcess> StartAsync(Uri service, string twilioStub, string folder, params string[] arguments)
    {
        arguments =
        [
            "--service", service.ToString(), "--client-token-file", BudgetServiceHost.WriteClientTokenFile(folder), "--twilio", twilioStub,
            "--key-id", TwilioGuardHost.KeyId, "--brake-key", TwilioGuardHost.BrakeKey, "--outbox", Path.Combine(folder, Guid.NewGuid().ToString("N") + "-outbox.db"),
            .. arguments,
        ];
        var process = await DotnetProcess.StartReadyAsync("Keybrake.Client.TwilioAgent.dll", arguments, s_startTimeout);
        return new TwilioAgentProcess(process);
    }

    /// <summary>Sends an SMS; returns its SID (Twilio gives no price yet, so its reservation is deferred).</summary>
    public async Task<string> SendAsync(string body) => await AskAsync($"send {body}", "sent ");

    /// <summary>Fetches a message; returns the price the response showed ("null" when none).</summary>
    public async Task<string> FetchAsync(string sid) => (await AskAsync($"fetch {sid}", $"fetched {sid} ")).Trim();

    /// <summary>Tells the agent to exit; it disposes its services first, which sends what it has not sent yet.</summary>
    public async Task ExitAsync()
    {
        await _process.WriteLineAsync("exit");
        var code = await _process.WaitForExitAsync(s_callTimeout);
        if (code != 0)
        {
            throw new InvalidOperationException($"The agent exited with code {code}.\n{Diagnostics}");
        }
    }

    /// <summary>Kills the agent at once, as a crash would.</summary>
    public Task KillAsync() => _process.KillAsync();

    public ValueTask DisposeAsync() => _process.DisposeAsync();

    private async Task<string> AskAsync(string command, string answerPrefix)
    {
        await _process.WriteLineAsync(command);
        var answer = await _process.ReadLineAsync(s_callTimeout);
        return answer is not null && answer.StartsWith(answerPrefix, StringComparison.Ordinal)
            ? answer[answerPrefix.Length..]
            : throw new InvalidOperationException($"'{command}' was answered '{answer}'.\n{Diagnostics}");
    }
}
