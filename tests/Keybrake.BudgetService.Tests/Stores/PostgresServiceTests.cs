using System.Net;
using System.Net.Sockets;
using Grpc.Core;
using Keybrake.BudgetService.Hosting;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Client.TestUtilities.Logging;
using Keybrake.Client.TestUtilities.Postgres;
using Keybrake.Client.TestUtilities.Processes;
using Keybrake.Protocol;
using Microsoft.Extensions.Logging;
using Npgsql;
using static Keybrake.BudgetService.Tests.Calls;

namespace Keybrake.BudgetService.Tests.Stores;

/// <summary>The service started on PostgreSQL: its settings checked at start-up, and its credentials kept out of every line it writes.</summary>
public sealed class PostgresServiceTests
{
    [Test]
    public async Task PostgreSQL_without_a_connection_string_stops_the_service_process_with_one_line_and_exit_code_1()
    {
        var (exitCode, errors) = await RunServiceAsync("--BudgetService:Store=PostgreSQL");

        Assert.Multiple(() =>
        {
            Assert.That(exitCode, Is.EqualTo(1));
            Assert.That(errors, Is.EqualTo(
                "error: BudgetService:Store is PostgreSQL, but ConnectionStrings:Keybrake is not set: give the database's connection string "
                + "(for example in the environment variable ConnectionStrings__Keybrake)"));
        });
    }

    [Test]
    public async Task A_database_that_does_not_answer_stops_the_service_process_with_one_line_that_names_it_without_the_password()
    {
        const string Password = "pg-secret-that-must-not-show-0123456789";
        var port = ClosedPort();
        var connectionString = new NpgsqlConnectionStringBuilder { Host = "127.0.0.1", Port = port, Database = "budget", Username = "keybrake", Password = Password, Timeout = 5 }.ConnectionString;

        var (exitCode, errors) = await RunServiceAsync("--BudgetService:Store=PostgreSQL", $"--ConnectionStrings:Keybrake={connectionString}");

        Assert.Multiple(() =>
        {
            Assert.That(exitCode, Is.EqualTo(1));
            Assert.That(errors, Does.StartWith($"error: The PostgreSQL budget database 127.0.0.1:{port}/budget cannot be used: Failed to connect to 127.0.0.1:{port} (Connection refused)."));
            Assert.That(errors, Does.Not.Contain('\n'), "one line, no stack trace");
            Assert.That(errors, Does.Not.Contain(Password));
        });
    }

    [Test]
    public void An_unknown_store_engine_is_refused_at_start_up_in_one_line()
    {
        var refused = Assert.ThrowsAsync<ServiceStartException>(async () =>
            await BudgetServiceHost.StartAsync(new Dictionary<string, string?>(BudgetServiceHost.Key("agent", "100")) { ["BudgetService:Store"] = "Mongo" }));

        Assert.That(refused!.Message, Is.EqualTo("BudgetService:Store is 'Mongo': use Sqlite (the default) or PostgreSQL"));
    }

    [Test]
    public void A_connection_string_PostgreSQL_cannot_read_is_refused_at_start_up_without_its_password()
    {
        var refused = Assert.ThrowsAsync<ServiceStartException>(async () =>
            await BudgetServiceHost.StartAsync(BudgetServiceHost.Key("agent", "100"), postgres: "Host=127.0.0.1;Port=not-a-port;Password=pg-secret-0123456789"));

        Assert.Multiple(() =>
        {
            Assert.That(refused!.Message, Is.EqualTo("ConnectionStrings:Keybrake is not a valid PostgreSQL connection string: Couldn't set port (Parameter 'port')."));
            Assert.That(refused.ToString(), Does.Not.Contain("pg-secret-0123456789"));
        });
    }

    [Test]
    public async Task The_database_password_appears_in_no_log_line_at_any_level()
    {
        var cluster = await PostgresCluster.SharedAsync();
        using var logs = new CapturingLoggerProvider();
        await using (var service = await TestService.StartAsync(
            StoreEngine.PostgreSql,
            BudgetServiceHost.Key("agent", "10"),
            configure: builder => builder.Logging.AddProvider(logs).AddFilter<CapturingLoggerProvider>(null, LogLevel.Trace)))
        {
            var reserved = await service.Budget.AuthorizeAsync(Authorize("agent", 6));
            var denied = await service.Budget.AuthorizeAsync(Authorize("agent", 6));
            await service.SettleAsync(Commit(reserved.ReservationId, 5));
            await service.Admin.RevokeKeyAsync(new KeyActionRequest { KeyId = "agent" });
            await service.TodayAsync("agent");
            Assert.That(denied.Reason, Is.EqualTo("daily_cap_exceeded"));
        }

        var lines = logs.Logs.Select(log => $"{log.Category}: {log.Message} {log.Exception}").ToList();
        Assert.Multiple(() =>
        {
            Assert.That(lines, Has.Some.Contains($"Budget store opened on PostgreSQL at 127.0.0.1:{cluster.Port}/"), "the store says where it is");
            Assert.That(lines, Has.Some.StartWith("Npgsql"), "Npgsql's own logging was captured too");
            Assert.That(lines, Has.None.Contains(cluster.Password));
        });
    }

    [Test]
    public async Task A_database_that_stops_answering_fails_money_calls_closed_and_they_work_again_when_it_is_back()
    {
        using var logs = new CapturingLoggerProvider();
        await using var service = await TestService.StartAsync(StoreEngine.PostgreSql, BudgetServiceHost.Key("agent", "100"), configure: builder => builder.Logging.AddProvider(logs));
        var database = new NpgsqlConnectionStringBuilder(service.Postgres!).Database!;
        var before = await service.Budget.AuthorizeAsync(Authorize("agent", 10));

        // The database refuses new sessions and its open ones end (waiting until they have), as when its server goes away.
        await AdminAsync($"ALTER DATABASE {database} WITH ALLOW_CONNECTIONS false; SELECT pg_terminate_backend(pid, 30000) FROM pg_stat_activity WHERE datname = '{database}'");
        var whileDown = Assert.ThrowsAsync<RpcException>(async () => await service.Budget.AuthorizeAsync(Authorize("agent", 20)));
        var settleWhileDown = Assert.ThrowsAsync<RpcException>(async () => await service.SettleAsync(Commit(before.ReservationId, 10)));
        await AdminAsync($"ALTER DATABASE {database} WITH ALLOW_CONNECTIONS true");
        var after = await service.Budget.AuthorizeAsync(Authorize("agent", 30));

        var today = await service.TodayAsync("agent");
        Assert.Multiple(() =>
        {
            Assert.That((whileDown!.StatusCode, whileDown.Status.Detail), Is.EqualTo((StatusCode.Unavailable, Budget.StoreFaults.Refusal)));
            Assert.That(settleWhileDown!.StatusCode, Is.EqualTo(StatusCode.Unavailable));
            Assert.That((before.Allowed, after.Allowed), Is.EqualTo((true, true)));
            Assert.That((today.ReservedMicroUsd, today.SettledMicroUsd), Is.EqualTo((Dollars(40), 0L)), "nothing counted while the database was away");
            Assert.That(logs.Logs.Where(log => log.Category.EndsWith("StoreFaults", StringComparison.Ordinal)).Select(log => log.Level), Is.EqualTo(new[] { LogLevel.Error, LogLevel.Warning }), "one line when it went away, one when it came back");
        });
    }

    private static async Task AdminAsync(string sql)
    {
        await using var connection = new NpgsqlConnection((await PostgresCluster.SharedAsync()).ConnectionString());
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    private static async Task<(int ExitCode, string Errors)> RunServiceAsync(params string[] arguments)
    {
        var directory = Directory.CreateTempSubdirectory("keybrake-budget-pg-start-").FullName;
        try
        {
            await using var process = DotnetProcess.Start(
                "Keybrake.BudgetService.dll",
                ["--BudgetService:Port=0", "--BudgetService:RestPort=-1", $"--BudgetService:StoragePath={Path.Combine(directory, "budget.db")}", $"--BudgetService:AdminToken={BudgetServiceHost.AdminToken}", .. arguments],
                workingDirectory: directory);
            var exitCode = await process.WaitForExitAsync(TimeSpan.FromSeconds(90));
            var errors = process.Diagnostics[(process.Diagnostics.IndexOf("stderr:\n", StringComparison.Ordinal) + "stderr:\n".Length)..].Trim();
            return (exitCode, errors);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>A loopback port nothing listens on (taken and released: a connection to it is refused).</summary>
    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
