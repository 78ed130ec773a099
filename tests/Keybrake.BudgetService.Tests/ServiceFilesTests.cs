using System.Diagnostics;
using Keybrake.BudgetService.Hosting;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Client.TestUtilities.Processes;
using static Keybrake.BudgetService.Tests.Calls;

namespace Keybrake.BudgetService.Tests;

/// <summary>The service's files are private whatever the umask, and a start-up failure is one line naming the path and the problem.</summary>
[Platform(Exclude = "Win")]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class ServiceFilesTests
{
    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode PrivateDirectory = Private | UnixFileMode.UserExecute;
    private const string ConfiguredToken = "configured-admin-token-0123";

    private string _root = null!;

    [SetUp]
    public void CreateRoot() => _root = Directory.CreateTempSubdirectory("keybrake-files-").FullName;

    [TearDown]
    public void DeleteRoot() => Directory.Delete(_root, recursive: true);

    [Test]
    public async Task A_new_data_directory_is_0700_and_the_database_its_wal_shm_and_token_0600()
    {
        var data = Path.Combine(_root, "data");
        await using (var service = await TestService.StartAsync(GeneratedToken(), directory: data))
        {
            await service.Budget.AuthorizeAsync(Authorize("agent", 1)); // the WAL and shared-memory files exist while it runs

            Assert.Multiple(() =>
            {
                Assert.That(File.GetUnixFileMode(data), Is.EqualTo(PrivateDirectory));
                foreach (var file in new[] { "budget.db", "budget.db-wal", "budget.db-shm", "admin-token" })
                {
                    Assert.That(File.GetUnixFileMode(Path.Combine(data, file)), Is.EqualTo(Private), file);
                }
            });
        }
    }

    [Test]
    public async Task Existing_files_readable_by_others_are_made_private_and_the_token_kept()
    {
        var data = Path.Combine(_root, "data");
        Directory.CreateDirectory(data);
        var token = Path.Combine(data, "admin-token");
        await File.WriteAllTextAsync(token, "existing-admin-token-0123456789\n");
        const UnixFileMode Shared = Private | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
        File.SetUnixFileMode(data, PrivateDirectory | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        File.SetUnixFileMode(token, Shared);

        await using (var service = await TestService.StartAsync(GeneratedToken(), directory: data))
        {
            var admin = new Protocol.BudgetAdmin.BudgetAdminClient(Grpc.Net.Client.GrpcChannel.ForAddress(service.Host.Address));
            var keys = await admin.ListKeysAsync(new Protocol.ListKeysRequest(), new Grpc.Core.Metadata { { "authorization", "Bearer existing-admin-token-0123456789" } });

            Assert.Multiple(() =>
            {
                Assert.That(keys.Keys.Select(k => k.KeyId), Does.Contain("agent"), "the existing token still works");
                Assert.That(File.GetUnixFileMode(data), Is.EqualTo(PrivateDirectory));
                Assert.That(File.GetUnixFileMode(token), Is.EqualTo(Private));
            });
        }
    }

    [Test]
    public async Task A_new_token_written_into_an_existing_shared_file_is_private()
    {
        var data = Path.Combine(_root, "data");
        Directory.CreateDirectory(data);
        var token = Path.Combine(data, "admin-token");
        await File.WriteAllTextAsync(token, "\n");
        File.SetUnixFileMode(token, Private | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

        await using (await TestService.StartAsync(GeneratedToken(), directory: data))
        {
            var written = (await File.ReadAllTextAsync(token)).Trim();

            Assert.Multiple(() =>
            {
                Assert.That(written, Does.StartWith("kbadm_"));
                Assert.That(File.GetUnixFileMode(token), Is.EqualTo(Private));
            });
        }
    }

    [TestCase("admin-token-with-\u0007-bell-01234")]
    [TestCase("admin-token-caf\u00e9-0123456789")]
    [TestCase("admin token with spaces 0123")]
    public async Task A_token_file_with_control_bytes_or_non_ASCII_stops_the_start(string content)
    {
        var data = Path.Combine(_root, "data");
        Directory.CreateDirectory(data);
        var token = Path.Combine(data, "admin-token");
        await File.WriteAllTextAsync(token, content);
        File.SetUnixFileMode(token, Private);

        var failure = Assert.CatchAsync<ServiceStartException>(async () => await TestService.StartAsync(GeneratedToken(), directory: data));

        Assert.That(failure!.Message, Is.EqualTo($"The admin token in {token} must be printable ASCII, without spaces, control characters or non-ASCII characters; correct the file, or delete it to have a new token generated."));
    }

    [TestCase("configured-token-\u001b[31m-0123")]
    [TestCase("configured-token-\u00fc-0123456")]
    public void A_configured_token_with_control_bytes_or_non_ASCII_stops_the_start(string configured)
    {
        var settings = TestService.Settings(BudgetServiceHost.Key("agent", "1"), new Dictionary<string, string?> { ["BudgetService:AdminToken"] = configured });

        var failure = Assert.CatchAsync(async () => await TestService.StartAsync(settings));

        Assert.That(failure!.Message, Does.Contain("BudgetService:AdminToken must be printable ASCII"));
    }

    [Test]
    public async Task A_read_only_data_directory_stops_the_service_with_one_line()
    {
        var data = Path.Combine(_root, "data");
        Directory.CreateDirectory(data);
        File.SetUnixFileMode(data, PrivateDirectory);

        var (exitCode, stderr) = await RunReadOnlyAsync(data, data);

        AssertOneLine(exitCode, stderr, data, "Read-only file system");
    }

    [Test]
    public async Task A_token_path_that_is_a_directory_stops_the_service_with_one_line()
    {
        var data = Path.Combine(_root, "data");
        var token = Path.Combine(data, "admin-token");
        Directory.CreateDirectory(token);

        var (exitCode, stderr) = await RunAsync(DotnetProcess.DotnetHost, [ServiceDll, .. Arguments(data, configuredToken: false)]);

        AssertOneLine(exitCode, stderr, token, "it is a directory");
    }

    [Test]
    public async Task A_read_only_database_stops_the_service_with_one_line()
    {
        var data = Path.Combine(_root, "data");
        var database = Path.Combine(data, "budget.db");
        await using (await TestService.StartAsync(BudgetServiceHost.Key("agent", "1"), directory: data))
        {
            // creates the database; stopped again at the end of the block
        }

        var (exitCode, stderr) = await RunReadOnlyAsync(database, data);

        AssertOneLine(exitCode, stderr, database, "readonly database");
    }

    private static string ServiceDll => Path.Combine(AppContext.BaseDirectory, "Keybrake.BudgetService.dll");

    private static Dictionary<string, string?> GeneratedToken() =>
        TestService.Settings(BudgetServiceHost.Key("agent", "1"), new Dictionary<string, string?> { ["BudgetService:AdminToken"] = string.Empty });

    private static string[] Arguments(string data, bool configuredToken = true) =>
    [
        "--BudgetService:Port=0",
        "--BudgetService:RestPort=-1",
        $"--BudgetService:StoragePath={Path.Combine(data, "budget.db")}",
        $"--BudgetService:AdminToken={(configuredToken ? ConfiguredToken : string.Empty)}",
    ];

    /// <summary>
    /// Runs the service with <paramref name="readOnly"/> mounted read-only. The tests run as root in CI, where a
    /// chmod does not stop a write; a read-only bind mount does, for root too. It is made in a mount namespace of
    /// the service process's own (<c>unshare</c>), so it is gone when the process exits, and nothing outside sees it.
    /// </summary>
    private static Task<(int ExitCode, string Stderr)> RunReadOnlyAsync(string readOnly, string data)
    {
        var command = $"mount --bind -o ro '{readOnly}' '{readOnly}' && exec '{DotnetProcess.DotnetHost}' '{ServiceDll}' {string.Join(' ', Arguments(data).Select(a => $"'{a}'"))}";
        return RunAsync("unshare", ["--mount", "--map-root-user", "sh", "-c", command]);
    }

    private static async Task<(int ExitCode, string Stderr)> RunAsync(string program, IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"The service did not stop on its own.\nstdout:\n{await stdout}\nstderr:\n{await stderr}");
        }

        await stdout;
        return (process.ExitCode, await stderr);
    }

    private static void AssertOneLine(int exitCode, string stderr, string path, string problem)
    {
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Multiple(() =>
        {
            Assert.That(exitCode, Is.EqualTo(1), stderr);
            Assert.That(lines, Has.Length.EqualTo(1), stderr);
            Assert.That(lines.FirstOrDefault(), Does.StartWith("error: ").And.Contain(path).And.Contain(problem));
            Assert.That(stderr, Does.Not.Contain(" at "), "no stack trace");
        });
    }
}
