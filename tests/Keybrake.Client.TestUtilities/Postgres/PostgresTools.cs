using System.Diagnostics;
using System.Globalization;

namespace Keybrake.Client.TestUtilities.Postgres;

/// <summary>
/// The PostgreSQL server binaries on this machine (<c>pg_config --bindir</c>, else the newest
/// <c>/usr/lib/postgresql/*/bin</c>), run as the current user, or as the <c>postgres</c> OS user when the tests run
/// as root: <c>initdb</c> and the server refuse to run as root.
/// </summary>
internal sealed class PostgresTools
{
    private const string ServiceUser = "postgres";

    private PostgresTools(string binDirectory, bool asServiceUser)
    {
        BinDirectory = binDirectory;
        AsServiceUser = asServiceUser;
    }

    public string BinDirectory { get; }

    /// <summary>Whether the binaries run as the <c>postgres</c> OS user (through <c>runuser</c>), the test process being root.</summary>
    public bool AsServiceUser { get; }

    /// <summary>Finds the binaries, or says in one sentence why it cannot.</summary>
    public static async Task<PostgresTools> FindAsync(CancellationToken cancellationToken)
    {
        if (OperatingSystem.IsWindows())
        {
            throw new InvalidOperationException("The PostgreSQL test cluster runs on Linux and macOS only.");
        }

        var bin = await BinDirectoryAsync(cancellationToken)
            ?? throw new InvalidOperationException(
                "PostgreSQL is not installed: no pg_config on PATH and no /usr/lib/postgresql/*/bin/initdb (on Debian: apt-get install postgresql).");
        var root = await RunAsync("id", ["-u"], cancellationToken) is { ExitCode: 0 } id && id.Output.Trim() == "0";
        return new PostgresTools(bin, root);
    }

    /// <summary>Runs a server binary (<c>initdb</c>, <c>pg_ctl</c>) and fails with its output when it exits non-zero.</summary>
    public async Task RunToolAsync(string tool, IReadOnlyList<string> arguments, CancellationToken cancellationToken)
    {
        var path = Path.Combine(BinDirectory, tool);
        var result = AsServiceUser
            ? await RunAsync("runuser", ["-u", ServiceUser, "--", path, .. arguments], cancellationToken)
            : await RunAsync(path, arguments, cancellationToken);
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"{tool} exited with code {result.ExitCode}: {result.Output.Trim()}");
        }
    }

    /// <summary>Hands a folder (and what is in it) to the OS user the server runs as.</summary>
    public async Task GiveAsync(string folder, CancellationToken cancellationToken)
    {
        if (!AsServiceUser)
        {
            return;
        }

        var result = await RunAsync("chown", ["-R", $"{ServiceUser}:", folder], cancellationToken);
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"Running as root, the test cluster needs the '{ServiceUser}' OS user (installed with Debian's postgresql package): chown failed: {result.Output.Trim()}");
        }
    }

    private static async Task<string?> BinDirectoryAsync(CancellationToken cancellationToken)
    {
        try
        {
            var config = await RunAsync("pg_config", ["--bindir"], cancellationToken);
            var bin = config.Output.Trim();
            if (config.ExitCode == 0 && File.Exists(Path.Combine(bin, "initdb")))
            {
                return bin;
            }
        }
        catch (System.ComponentModel.Win32Exception)
        {
            // no pg_config on PATH (Debian's libpq-dev ships it, the server package does not)
        }

        const string Installed = "/usr/lib/postgresql";
        return Directory.Exists(Installed)
            ? Directory.EnumerateDirectories(Installed)
                .Select(version => (version, number: int.TryParse(Path.GetFileName(version), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : -1))
                .Where(x => File.Exists(Path.Combine(x.version, "bin", "initdb")))
                .OrderByDescending(x => x.number)
                .Select(x => Path.Combine(x.version, "bin"))
                .FirstOrDefault()
            : null;
    }

    private static async Task<(int ExitCode, string Output)> RunAsync(string program, IReadOnlyList<string> arguments, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetTempPath(), // the postgres user may not enter the test's folder
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{program} did not start.");
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var error = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        return (process.ExitCode, (await output) + (await error));
    }
}
