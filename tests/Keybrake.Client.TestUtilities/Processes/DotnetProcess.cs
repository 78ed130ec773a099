using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading.Channels;

namespace Keybrake.Client.TestUtilities.Processes;

/// <summary>
/// An app from the test's output folder run as its own OS process (<c>dotnet app.dll ...</c>), with its
/// standard output readable line by line and its standard error kept for failure messages. Disposing it
/// kills it if it is still running, so a failed test never leaves one behind.
/// </summary>
public sealed class DotnetProcess : IAsyncDisposable
{
    private const int KeptLines = 200;

    private readonly Process _process;
    private readonly Channel<string> _output = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true });
    private readonly ConcurrentQueue<string> _outputSeen = new();
    private readonly ConcurrentQueue<string> _errors = new();

    private DotnetProcess(Process process)
    {
        _process = process;
    }

    /// <summary>The OS process id.</summary>
    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    /// <summary>What the process wrote lately, for failure messages: the end of its standard output, then of its standard error.</summary>
    public string Diagnostics =>
        $"process {Id} ({Path.GetFileName(_process.StartInfo.ArgumentList[0])})\nstdout:\n{string.Join('\n', _outputSeen)}\nstderr:\n{string.Join('\n', _errors)}";

    /// <summary>The <c>dotnet</c> that runs the tests, so the child runs on the same runtime.</summary>
    public static string DotnetHost =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host)
            ? host
            : Environment.ProcessPath is { } path && Path.GetFileNameWithoutExtension(path) == "dotnet" ? path : "dotnet";

    /// <summary>
    /// Starts <paramref name="assembly"/> (a file name in the test's output folder, or a path) with <paramref name="arguments"/>,
    /// and <paramref name="environment"/> added to this process's environment (a secret an operator keeps off the command line).
    /// </summary>
    public static DotnetProcess Start(string assembly, IEnumerable<string> arguments, string? workingDirectory = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        var path = Path.IsPathRooted(assembly) ? assembly : Path.Combine(AppContext.BaseDirectory, assembly);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException("The app to run is not in the test's output folder; does the test project reference it?", path);
        }

        var start = new ProcessStartInfo(DotnetHost)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? AppContext.BaseDirectory,
        };
        start.ArgumentList.Add(path);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var child = new DotnetProcess(process);
        process.OutputDataReceived += (_, line) =>
        {
            if (line.Data is null)
            {
                child._output.Writer.TryComplete();
                return;
            }

            Keep(child._outputSeen, line.Data);
            child._output.Writer.TryWrite(line.Data);
        };
        process.ErrorDataReceived += (_, line) =>
        {
            if (line.Data is not null)
            {
                Keep(child._errors, line.Data);
            }
        };

        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    /// <summary>Keeps the last lines only: a service's log can be long.</summary>
    private static void Keep(ConcurrentQueue<string> lines, string line)
    {
        lines.Enqueue(line);
        while (lines.Count > KeptLines && lines.TryDequeue(out string? _))
        {
        }
    }

    /// <summary>
    /// Starts an agent that says <c>ready</c> on its first line once it is set up, and waits for that line. One that
    /// says anything else, or nothing within <paramref name="timeout"/>, is stopped, and the failure shows its output.
    /// </summary>
    public static async Task<DotnetProcess> StartReadyAsync(string assembly, IEnumerable<string> arguments, TimeSpan timeout, string name = "The agent")
    {
        var process = Start(assembly, arguments);
        try
        {
            var ready = await process.ReadLineAsync(timeout);
            if (ready != "ready")
            {
                throw new InvalidOperationException($"{name} did not get ready: '{ready}'.\n{process.Diagnostics}");
            }

            return process;
        }
        catch
        {
            await process.DisposeAsync();
            throw;
        }
    }

    /// <summary>The next line of standard output; <see langword="null"/> when the process closed it.</summary>
    /// <exception cref="TimeoutException">No line came within <paramref name="timeout"/>.</exception>
    public async Task<string?> ReadLineAsync(TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            while (await _output.Reader.WaitToReadAsync(cancel.Token))
            {
                if (_output.Reader.TryRead(out string? line))
                {
                    return line;
                }
            }

            return null;
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            throw new TimeoutException($"No output within {timeout}.\n{Diagnostics}");
        }
    }

    /// <summary>Writes a line to the process's standard input.</summary>
    public async Task WriteLineAsync(string line)
    {
        await _process.StandardInput.WriteLineAsync(line);
        await _process.StandardInput.FlushAsync();
    }

    /// <summary>Waits for the process to exit on its own.</summary>
    /// <exception cref="TimeoutException">It was still running after <paramref name="timeout"/>.</exception>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            throw new TimeoutException($"Still running after {timeout}.\n{Diagnostics}");
        }

        return _process.ExitCode;
    }

    /// <summary>Kills the process (and anything it started) at once, as a crash would, and waits until it is gone.</summary>
    public async Task KillAsync()
    {
        try
        {
            _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // it had already exited
        }

        await _process.WaitForExitAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process.Dispose();
    }
}
