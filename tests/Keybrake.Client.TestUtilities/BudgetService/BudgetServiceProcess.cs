using System.Net;
using System.Net.Sockets;
using Grpc.Core;
using Grpc.Net.Client;
using Keybrake.Client.TestUtilities.Processes;
using Keybrake.Protocol;

namespace Keybrake.Client.TestUtilities.BudgetService;

/// <summary>
/// The real budget service as its own OS process (<c>dotnet Keybrake.BudgetService.dll</c> from the test's
/// output folder) on a loopback port, with its SQLite file in a temporary folder. It can be killed like a
/// crash (the whole process, no shutdown) and started again on the same port and data. Keys and caps are
/// passed on its command line, in the shape <see cref="BudgetServiceHost.Key"/> builds.
/// </summary>
public sealed class BudgetServiceProcess : IAsyncDisposable
{
    private static readonly TimeSpan s_startTimeout = TimeSpan.FromSeconds(60);

    private readonly IReadOnlyDictionary<string, string?> _settings;
    private readonly bool _ownsDirectory;
    private DotnetProcess? _process;

    private BudgetServiceProcess(IReadOnlyDictionary<string, string?> settings, string directory, bool ownsDirectory, int port, int restPort)
    {
        _settings = settings;
        Directory = directory;
        _ownsDirectory = ownsDirectory;
        Port = port;
        RestPort = restPort;
        Address = new Uri($"http://127.0.0.1:{port}");
        RestAddress = restPort < 0 ? null : new Uri($"http://127.0.0.1:{restPort}");
    }

    /// <summary>Where the admin API's REST paths listen, when started with them.</summary>
    public Uri? RestAddress { get; }

    private int RestPort { get; }

    /// <summary>Where the service listens; the same across restarts.</summary>
    public Uri Address { get; }

    public int Port { get; }

    /// <summary>The folder holding the SQLite file.</summary>
    public string Directory { get; }

    public string StoragePath => Path.Combine(Directory, "budget.db");

    /// <summary>The service's OS process id while it runs (0 before it starts), for its CPU time.</summary>
    public int ProcessId => _process?.Id ?? 0;

    /// <summary>Whether the service process is running.</summary>
    public bool IsRunning => _process is { HasExited: false };

    /// <summary>The service's output so far, for failure messages.</summary>
    public string Diagnostics => _process?.Diagnostics ?? "not started";

    /// <summary>
    /// Starts the service and waits until it answers <c>Ping</c>. <paramref name="port"/> 0 picks a free one; with
    /// <paramref name="rest"/> the REST paths listen on another free port (<see cref="RestAddress"/>).
    /// </summary>
    public static async Task<BudgetServiceProcess> StartAsync(IDictionary<string, string?> settings, string? directory = null, int port = 0, bool rest = false)
    {
        var ownsDirectory = directory is null;
        directory ??= System.IO.Directory.CreateTempSubdirectory("keybrake-budget-process-").FullName;
        var service = new BudgetServiceProcess(new Dictionary<string, string?>(settings), directory, ownsDirectory, port == 0 ? FreePort() : port, rest ? FreePort() : -1);
        try
        {
            await service.StartProcessAsync();
        }
        catch
        {
            await service.DisposeAsync();
            throw;
        }

        return service;
    }

    /// <summary>Kills the service process at once, as a crash would: no shutdown, no flush beyond what SQLite already committed.</summary>
    public async Task KillAsync()
    {
        if (_process is { } process)
        {
            await process.KillAsync();
        }
    }

    /// <summary>
    /// Stops the service as an orchestrator does (<c>SIGTERM</c>) and waits until it exits: the graceful stop, which
    /// lets the calls under way finish and closes the store. Returns the exit code.
    /// </summary>
    /// <exception cref="TimeoutException">It was still running after <paramref name="timeout"/>.</exception>
    public async Task<int> StopGracefullyAsync(TimeSpan timeout)
    {
        var process = _process ?? throw new InvalidOperationException("The budget service is not running.");
        await SignalAsync("TERM");
        return await process.WaitForExitAsync(timeout);
    }

    /// <summary>Sends <c>SIGTERM</c> and returns at once: the service is stopping, and <see cref="WaitForExitAsync"/> waits for the end.</summary>
    public Task BeginStopAsync() => SignalAsync("TERM");

    /// <summary>Waits until the service process exits on its own, and returns its exit code.</summary>
    public Task<int> WaitForExitAsync(TimeSpan timeout) =>
        (_process ?? throw new InvalidOperationException("The budget service is not running.")).WaitForExitAsync(timeout);

    /// <summary>
    /// Freezes the service process with <c>SIGSTOP</c>, as a hung service (a stalled disk, a paused VM): its
    /// port stays open and connections are accepted by the kernel, but nothing answers until
    /// <see cref="ContinueAsync"/>.
    /// </summary>
    public Task StopRespondingAsync() => SignalAsync("STOP");

    /// <summary>Lets a process frozen by <see cref="StopRespondingAsync"/> run again (<c>SIGCONT</c>).</summary>
    public Task ContinueAsync() => SignalAsync("CONT");

    /// <summary>Starts the service again on the same port and data (killing it first if it still runs).</summary>
    public async Task RestartAsync()
    {
        await KillAsync();
        await StartProcessAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is { } process)
        {
            await process.DisposeAsync();
            _process = null;
        }

        if (_ownsDirectory)
        {
            try
            {
                System.IO.Directory.Delete(Directory, recursive: true);
            }
            catch (IOException)
            {
                // a file still held open: the temp folder is cleaned by the system
            }
        }
    }

    private async Task SignalAsync(string signal)
    {
        var process = _process ?? throw new InvalidOperationException("The budget service is not running.");
        using var kill = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("kill")
        {
            ArgumentList = { $"-{signal}", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture) },
            UseShellExecute = false,
        })!;
        await kill.WaitForExitAsync();
        if (kill.ExitCode != 0)
        {
            throw new InvalidOperationException($"kill -{signal} {process.Id} exited with code {kill.ExitCode}.");
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private async Task StartProcessAsync()
    {
        if (_process is { } previous)
        {
            await previous.DisposeAsync();
        }

        // Settings go on the command line, where they override the appsettings.json copied next to the service.
        var arguments = new List<string>
        {
            $"--BudgetService:Port={Port}",
            $"--BudgetService:StoragePath={StoragePath}",
            $"--BudgetService:RestPort={RestPort}",
            $"--BudgetService:AdminToken={BudgetServiceHost.AdminToken}",
            "--Logging:LogLevel:Default=Warning",
        };
        arguments.AddRange(BudgetServiceHost.ClientSettings.Where(setting => !_settings.ContainsKey(setting.Key)).Select(setting => $"--{setting.Key}={setting.Value}"));
        arguments.AddRange(_settings.Select(setting => $"--{setting.Key}={setting.Value}"));
        _process = DotnetProcess.Start("Keybrake.BudgetService.dll", arguments, workingDirectory: Directory);
        await WaitUntilAnsweringAsync(_process);
    }

    private async Task WaitUntilAnsweringAsync(DotnetProcess process)
    {
        using var channel = GrpcChannel.ForAddress(Address);
        var client = BudgetServiceHost.BudgetClient(channel);
        var giveUp = DateTime.UtcNow + s_startTimeout;
        while (true)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"The budget service exited with code {process.ExitCode} before it answered.\n{process.Diagnostics}");
            }

            try
            {
                await client.PingAsync(new PingRequest(), deadline: DateTime.UtcNow.AddSeconds(2));
                return;
            }
            catch (RpcException exception)
            {
                if (DateTime.UtcNow > giveUp)
                {
                    throw new TimeoutException($"The budget service did not answer within {s_startTimeout}: {exception.Status}.\n{process.Diagnostics}", exception);
                }

                // not listening yet (a restart may also wait for the port to be released)
                await Task.Delay(50);
            }
        }
    }
}
