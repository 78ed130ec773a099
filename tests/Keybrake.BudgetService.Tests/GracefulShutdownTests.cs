using Grpc.Core;
using Grpc.Net.Client;
using Keybrake.BudgetService.Budget;
using Keybrake.Client.TestUtilities;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Client.TestUtilities.Postgres;
using Keybrake.Protocol;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Npgsql;
using static Keybrake.BudgetService.Tests.Calls;

namespace Keybrake.BudgetService.Tests;

/// <summary>
/// The service as its own OS process, stopped as an orchestrator stops it (SIGTERM): its key event streams end at once
/// with a status that says why, the call under way finishes, the process exits 0, and the SQLite file is left whole,
/// with no write-ahead log beside it.
/// </summary>
public sealed class GracefulShutdownTests
{
    private static readonly TimeSpan s_exitTimeout = TimeSpan.FromSeconds(60);

    [Test]
    public async Task A_stopping_service_ends_its_streams_with_a_reason_lets_the_call_under_way_finish_and_closes_its_store()
    {
        // The hosting log says when a request has reached the service: the state this test waits for.
        await using var service = await BudgetServiceProcess.StartAsync(TestService.Settings(
            BudgetServiceHost.Key("agent", "100"),
            new Dictionary<string, string?> { ["Logging:LogLevel:Microsoft.AspNetCore.Hosting.Diagnostics"] = "Information" }));
        using var channel = GrpcChannel.ForAddress(service.Address);
        var budget = BudgetServiceHost.BudgetClient(channel);
        using var watch = budget.WatchKeys(new WatchKeysRequest { KeyIds = { "agent" }, SubscriberName = "shutdown-test" });
        Assert.That(await watch.ResponseStream.MoveNext(CancellationToken.None), Is.True, "the snapshot");
        Assert.That(watch.ResponseStream.Current.Kind, Is.EqualTo(KeyEventKind.Snapshot));

        // The fault, on purpose: this test holds SQLite's write lock, so the Authorize below waits inside the service
        // (on the store's busy timeout) until the test lets go, after the stop began.
        var holder = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = service.StoragePath, Pooling = false }.ToString());
        await holder.OpenAsync();
        var hold = holder.BeginTransaction(deferred: false);
        var inFlight = budget.AuthorizeAsync(Authorize("agent", 10)).ResponseAsync;
        var arrived = await Poll.UntilAsync(() => service.Diagnostics, output => output.Contains("/keybrake.budget.v1.Budget/Authorize", StringComparison.Ordinal));
        Assert.That(arrived, Does.Contain("/keybrake.budget.v1.Budget/Authorize"), "the Authorize reached the service");

        await service.BeginStopAsync();
        var ended = await EndOfStreamAsync(watch.ResponseStream);
        hold.Commit();
        hold.Dispose();
        await holder.DisposeAsync();
        var reply = await inFlight;
        var exitCode = await service.WaitForExitAsync(s_exitTimeout);

        Assert.Multiple(() =>
        {
            Assert.That(ended?.StatusCode, Is.EqualTo(StatusCode.Unavailable), service.Diagnostics);
            Assert.That(ended?.Status.Detail, Is.EqualTo(BudgetGrpcService.ShuttingDown));
            Assert.That(reply.Allowed, Is.True, "the call under way at the stop finished");
            Assert.That(exitCode, Is.Zero, service.Diagnostics);
            Assert.That(new FileInfo(service.StoragePath + "-wal") is { Exists: false } or { Length: 0 }, Is.True, "the write-ahead log was checkpointed into the file");
        });

        // What the call reserved is in the file the service left.
        await using var check = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = service.StoragePath, Pooling = false, Mode = SqliteOpenMode.ReadOnly }.ToString());
        await check.OpenAsync();
        using var reserved = check.CreateCommand();
        reserved.CommandText = "SELECT COUNT(*) FROM reservation WHERE reservation_id = $id";
        reserved.Parameters.AddWithValue("$id", reply.ReservationId);
        Assert.That(Convert.ToInt64(await reserved.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture), Is.EqualTo(1));
    }

    [Test]
    public async Task A_stopped_service_on_postgresql_leaves_no_session_open_its_listening_one_included()
    {
        await using var service = await TestService.StartAsync(StoreEngine.PostgreSql, BudgetServiceHost.Key("agent", "100"));
        var database = new NpgsqlConnectionStringBuilder(service.Postgres).Database!;
        await service.Budget.AuthorizeAsync(Authorize("agent", 10));
        var before = await Poll.UntilAsync(() => SessionsAsync(database), sessions => sessions.Listening > 0);

        await service.StopAsync();
        var after = await Poll.UntilAsync(() => SessionsAsync(database), sessions => sessions.All == 0);

        Assert.Multiple(() =>
        {
            Assert.That(before.Listening, Is.EqualTo(1), "the replica listened for the others' changes while it ran");
            Assert.That(after, Is.EqualTo((0L, 0L)), "every session, the LISTEN one included, closed with the service");
        });
    }

    [Test]
    public async Task The_shutdown_timeout_is_how_long_the_host_lets_calls_under_way_finish()
    {
        await using var service = await TestService.StartAsync(TestService.Settings(
            BudgetServiceHost.Key("agent", "100"),
            new Dictionary<string, string?> { ["BudgetService:ShutdownTimeout"] = "00:00:07" }));

        Assert.That(service.Host.Services.GetRequiredService<IOptions<HostOptions>>().Value.ShutdownTimeout, Is.EqualTo(TimeSpan.FromSeconds(7)));
    }

    [Test]
    public void A_shutdown_timeout_out_of_range_fails_start_up_naming_it()
    {
        var settings = TestService.Settings(BudgetServiceHost.Key("agent", "100"), new Dictionary<string, string?> { ["BudgetService:ShutdownTimeout"] = "01:00:00" });

        var failure = Assert.CatchAsync(async () => await BudgetServiceHost.StartAsync(settings));

        Assert.That(failure!.Message, Does.Contain("ShutdownTimeout"));
    }

    /// <summary>The sessions the server has on <paramref name="database"/>, and those of them that listen for notifications.</summary>
    private static async Task<(long All, long Listening)> SessionsAsync(string database)
    {
        await using var connection = new NpgsqlConnection((await PostgresCluster.SharedAsync()).ConnectionString());
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "SELECT COUNT(*), COUNT(*) FILTER (WHERE query ILIKE 'LISTEN%') FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            connection);
        command.Parameters.AddWithValue(database);
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        return (reader.GetInt64(0), reader.GetInt64(1));
    }

    /// <summary>Reads the stream (heartbeats, say) until it ends; the status it ended with, or null for a plain end.</summary>
    private static async Task<RpcException?> EndOfStreamAsync(IAsyncStreamReader<KeyEvent> stream)
    {
        using var bound = new CancellationTokenSource(s_exitTimeout);
        try
        {
            while (await stream.MoveNext(bound.Token))
            {
            }

            return null;
        }
        catch (RpcException exception)
        {
            return exception;
        }
    }
}
