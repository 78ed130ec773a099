using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Npgsql;

namespace Keybrake.Client.TestUtilities.Postgres;

/// <summary>
/// A throwaway PostgreSQL server for tests: <c>initdb</c> into a temporary folder with a generated superuser
/// password (scram-sha-256, never trust), started with <c>pg_ctl</c> on a free loopback port, its socket inside the
/// folder, tuned for speed over durability (fsync off). Each test asks it for a fresh database
/// (<see cref="CreateDatabaseAsync"/>). Disposing stops it and deletes the folder. Starting one costs seconds, so a
/// test assembly shares one (<see cref="SharedAsync"/>) and disposes it when its run ends
/// (<see cref="DisposeSharedAsync"/>). A test that needs PostgreSQL and cannot start it fails with the reason.
/// </summary>
public sealed class PostgresCluster : IAsyncDisposable
{
    private const string Superuser = "postgres";
    private const string FolderPrefix = "keybrake-pg-";

    /// <summary>The id of the test process that started the cluster: a cluster whose process is gone was abandoned.</summary>
    private const string OwnerFile = "owner.pid";

    private static readonly Lock s_sharedGate = new();
    private static Task<PostgresCluster>? s_shared;

    private readonly PostgresTools _tools;
    private readonly string _folder;
    private int _databases;

    private PostgresCluster(PostgresTools tools, string folder, int port, string password)
    {
        _tools = tools;
        _folder = folder;
        Port = port;
        Password = password;
    }

    /// <summary>The loopback port the server listens on.</summary>
    public int Port { get; }

    /// <summary>The superuser's generated password: tests check that it appears in no log or message.</summary>
    public string Password { get; }

    /// <summary>The server's data directory: tests read its files to prove what the database never holds.</summary>
    public string DataDirectory => Path.Combine(_folder, "data");

    private string LogFile => Path.Combine(_folder, "server.log");

    /// <summary>The cluster this test assembly shares, started on first use.</summary>
    public static Task<PostgresCluster> SharedAsync()
    {
        lock (s_sharedGate)
        {
            return s_shared ??= StartAsync(CancellationToken.None);
        }
    }

    /// <summary>Stops the shared cluster, if one was started (from the assembly's one-time tear-down).</summary>
    public static async Task DisposeSharedAsync()
    {
        Task<PostgresCluster>? shared;
        lock (s_sharedGate)
        {
            shared = s_shared;
            s_shared = null;
        }

        if (shared is { IsCompletedSuccessfully: true })
        {
            await (await shared).DisposeAsync();
        }
    }

    /// <summary>Creates, starts and returns a cluster of its own.</summary>
    public static async Task<PostgresCluster> StartAsync(CancellationToken cancellationToken)
    {
        PostgresTools tools;
        try
        {
            tools = await PostgresTools.FindAsync(cancellationToken);
        }
        catch (InvalidOperationException exception)
        {
            throw new InvalidOperationException($"The tests need a PostgreSQL server and cannot start one: {exception.Message}", exception);
        }

        await SweepAbandonedAsync(tools, cancellationToken);
        var folder = Directory.CreateTempSubdirectory(FolderPrefix).FullName;
        await File.WriteAllTextAsync(Path.Combine(folder, OwnerFile), Environment.ProcessId.ToString(CultureInfo.InvariantCulture), cancellationToken);
        var password = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24));
        PostgresCluster? cluster = null;
        try
        {
            await tools.RunToolAsync("initdb", await InitArgumentsAsync(tools, folder, password, cancellationToken), cancellationToken);
            File.Delete(Path.Combine(folder, "pwfile"));

            // The port is free when asked; another process may take it before the server binds it: try a few.
            for (var attempt = 1; ; attempt++)
            {
                var port = FreePort();
                await WriteSettingsAsync(folder, port, cancellationToken);
                await tools.GiveAsync(folder, cancellationToken);
                cluster = new PostgresCluster(tools, folder, port, password);
                try
                {
                    await tools.RunToolAsync("pg_ctl", ["start", "-w", "-t", "120", "-D", cluster.DataDirectory, "-l", cluster.LogFile], cancellationToken);
                    break;
                }
                catch (InvalidOperationException) when (attempt < 3)
                {
                    // the log says why; the next attempt picks another port
                }
            }

            return cluster;
        }
        catch (Exception exception) when (exception is InvalidOperationException or IOException or UnauthorizedAccessException)
        {
            var log = File.Exists(Path.Combine(folder, "server.log")) ? File.ReadAllText(Path.Combine(folder, "server.log")).Trim() : "";
            TryDelete(folder);
            throw new InvalidOperationException(
                $"The tests need a PostgreSQL server and cannot start one with {tools.BinDirectory}{(tools.AsServiceUser ? " as the postgres user" : "")}: {exception.Message}"
                + (log.Length > 0 ? $"\nserver log:\n{log}" : ""),
                exception);
        }
    }

    /// <summary>A connection string for <paramref name="database"/>, with the superuser's password.</summary>
    public string ConnectionString(string database = "postgres") => new NpgsqlConnectionStringBuilder
    {
        Host = "127.0.0.1",
        Port = Port,
        Username = Superuser,
        Password = Password,
        Database = database,
        Timeout = 60, // a loaded machine may take a while to fork a backend
        CommandTimeout = 120,
    }.ConnectionString;

    /// <summary>Creates an empty database and returns its connection string.</summary>
    public async Task<string> CreateDatabaseAsync(CancellationToken cancellationToken = default)
    {
        var name = string.Create(CultureInfo.InvariantCulture, $"keybrake_{Interlocked.Increment(ref _databases)}_{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4))}");
        await using (var connection = new NpgsqlConnection(ConnectionString()))
        {
            await connection.OpenAsync(cancellationToken);
            await using var command = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
            await command.ExecuteNonQueryAsync(cancellationToken);
        }

        return ConnectionString(name);
    }

    /// <summary>
    /// Stops the server as an operator restarting it would (<c>pg_ctl stop -m fast</c>: open sessions are ended), keeping
    /// its data and port for <see cref="StartServerAsync"/>. For a cluster of the test's own, never the shared one.
    /// </summary>
    public Task StopServerAsync(CancellationToken cancellationToken = default) =>
        _tools.RunToolAsync("pg_ctl", ["stop", "-m", "fast", "-w", "-t", "60", "-D", DataDirectory], cancellationToken);

    /// <summary>Starts a server stopped by <see cref="StopServerAsync"/> again, on the same data and port, and waits until it accepts connections.</summary>
    public Task StartServerAsync(CancellationToken cancellationToken = default) =>
        _tools.RunToolAsync("pg_ctl", ["start", "-w", "-t", "120", "-D", DataDirectory, "-l", LogFile], cancellationToken);

    /// <summary>Stops the server (fast: open sessions are ended) and deletes its folder.</summary>
    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        try
        {
            await _tools.RunToolAsync("pg_ctl", ["stop", "-m", "fast", "-w", "-t", "60", "-D", DataDirectory], CancellationToken.None);
        }
        catch (InvalidOperationException)
        {
            // already stopped; the folder goes either way
        }

        TryDelete(_folder);
    }

    /// <summary>
    /// Stops and deletes the clusters of test runs that ended without disposing theirs (killed on a timeout, say), so
    /// that their servers do not run on for ever. A cluster whose test process still runs (another run on this
    /// machine) is left alone.
    /// </summary>
    private static async Task SweepAbandonedAsync(PostgresTools tools, CancellationToken cancellationToken)
    {
        foreach (var folder in Directory.EnumerateDirectories(Path.GetTempPath(), FolderPrefix + "*"))
        {
            var owner = Path.Combine(folder, OwnerFile);
            if (!File.Exists(owner)
                || !int.TryParse(await File.ReadAllTextAsync(owner, cancellationToken), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)
                || IsRunning(pid))
            {
                continue;
            }

            if (File.Exists(Path.Combine(folder, "data", "postmaster.pid")))
            {
                try
                {
                    await tools.RunToolAsync("pg_ctl", ["stop", "-m", "immediate", "-w", "-t", "60", "-D", Path.Combine(folder, "data")], cancellationToken);
                }
                catch (InvalidOperationException)
                {
                    // not running any more
                }
            }

            TryDelete(folder);
        }
    }

    private static bool IsRunning(int pid)
    {
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    private static async Task<List<string>> InitArgumentsAsync(PostgresTools tools, string folder, string password, CancellationToken cancellationToken)
    {
        var passwordFile = Path.Combine(folder, "pwfile");
        await File.WriteAllTextAsync(passwordFile, password + "\n", cancellationToken);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(passwordFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        await tools.GiveAsync(folder, cancellationToken);
        return
        [
            "-D", Path.Combine(folder, "data"),
            "-U", Superuser,
            "--pwfile", passwordFile,
            "--auth", "scram-sha-256",
            "--encoding", "UTF8",
            "--locale", "C",
            "--no-sync",
        ];
    }

    /// <summary>Loopback only, a socket inside the folder, and no durability: the data is thrown away after the run.</summary>
    private static async Task WriteSettingsAsync(string folder, int port, CancellationToken cancellationToken)
    {
        var settings = string.Join('\n',
            $"port = {port}",
            "listen_addresses = '127.0.0.1'",
            $"unix_socket_directories = '{folder}'",
            "max_connections = 300",
            "fsync = off",
            "synchronous_commit = off",
            "full_page_writes = off",
            "wal_level = minimal",
            "max_wal_senders = 0",
            "checkpoint_timeout = 1h",
            "max_wal_size = 1GB",
            "shared_buffers = 32MB",
            "autovacuum = off",
            "log_min_messages = warning",
            "");
        await File.WriteAllTextAsync(Path.Combine(folder, "data", "postgresql.auto.conf"), settings, cancellationToken);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static void TryDelete(string folder)
    {
        try
        {
            Directory.Delete(folder, recursive: true);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            // the temporary folder is cleaned by the system
        }
    }
}
