using System.Diagnostics;
using System.Text.Json;
namespace Keybrake.Client.TestUtilities.Processes;

/// <summary>What one run of the tool did.</summary>
public sealed record CliResult(int ExitCode, string Out, string Error)
{
    public JsonElement Json()
    {
        try
        {
            using var document = JsonDocument.Parse(Out);
            return document.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new InvalidOperationException($"Standard output is not one JSON document ({e.Message}).\n{this}");
        }
    }

    public override string ToString() => $"exit code {ExitCode}\nstdout:\n{Out}\nstderr:\n{Error}";
}

/// <summary>
/// The built tool run as its own process, <c>dotnet Keybrake.Cli.dll ...</c> from the test's output folder (a test
/// project references Keybrake.Cli to have it there), to completion, in a folder of its
/// own and with no KEYBRAKE_ variables but the ones a test gives: what a user's shell would do.
/// </summary>
public static class CliProcess
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(60);

    // standardInput: what the tool reads on standard input (then closed); nothing when null.
    public static async Task<CliResult> RunAsync(IEnumerable<string> arguments, IDictionary<string, string>? environment = null, string? workingDirectory = null, string? standardInput = null)
    {
        var start = new ProcessStartInfo(DotnetProcess.DotnetHost)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Path.GetTempPath(),
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Keybrake.Cli.dll"));
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment.Remove("KEYBRAKE_SERVER");
        start.Environment.Remove("KEYBRAKE_ADMIN_TOKEN");
        start.Environment["DOTNET_CLI_UI_LANGUAGE"] = "en";
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        using var process = Process.Start(start)!;
        if (standardInput is not null)
        {
            await process.StandardInput.WriteAsync(standardInput);
        }

        process.StandardInput.Close();
        using var timeout = new CancellationTokenSource(s_timeout);
        var output = process.StandardOutput.ReadToEndAsync(timeout.Token);
        var error = process.StandardError.ReadToEndAsync(timeout.Token);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
            return new CliResult(process.ExitCode, await output, await error);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"keybrake {string.Join(' ', start.ArgumentList.Skip(1))} was still running after {s_timeout}.");
        }
    }

    public static Task<CliResult> RunAsync(params string[] arguments) => RunAsync(arguments, null);
}
