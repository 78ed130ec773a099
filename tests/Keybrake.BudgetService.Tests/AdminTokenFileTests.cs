using Grpc.Core;
using Keybrake.BudgetService.Hosting;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Client.TestUtilities.Postgres;
using Keybrake.Protocol;

namespace Keybrake.BudgetService.Tests;

/// <summary>
/// <c>BudgetService:AdminTokenFile</c>: where the admin token is read (and on SQLite generated) when none is configured.
/// On PostgreSQL nothing is generated, since replicas on several machines must all accept one token.
/// </summary>
[Platform(Exclude = "Win")]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class AdminTokenFileTests
{
    private const string SharedToken = "shared-admin-token-0123456789";

    private string _root = null!;

    [SetUp]
    public void CreateRoot() => _root = Directory.CreateTempSubdirectory("keybrake-token-file-").FullName;

    [TearDown]
    public void DeleteRoot() => Directory.Delete(_root, recursive: true);

    [Test]
    public async Task On_SQLite_a_configured_token_file_is_generated_where_it_says_and_not_next_to_the_database()
    {
        var data = Path.Combine(_root, "data");
        var tokenFile = Path.Combine(_root, "secrets", "keybrake-admin");
        await using var service = await TestService.StartAsync(StoreEngine.Sqlite, Settings(tokenFile), directory: data);
        var token = (await File.ReadAllTextAsync(tokenFile)).Trim();

        var keys = await service.AnonymousAdmin.ListKeysAsync(new ListKeysRequest(), Bearer(token));

        Assert.Multiple(() =>
        {
            Assert.That(token, Does.StartWith("kbadm_"));
            Assert.That(File.GetUnixFileMode(tokenFile), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite));
            Assert.That(File.Exists(Path.Combine(data, "admin-token")), Is.False, "nothing next to the database");
            Assert.That(keys.Keys.Select(key => key.KeyId), Is.EqualTo(new[] { "agent" }));
        });
    }

    [Test]
    public async Task On_PostgreSQL_two_replicas_reading_one_token_file_accept_the_same_token()
    {
        var tokenFile = Path.Combine(_root, "admin-token");
        await File.WriteAllTextAsync(tokenFile, SharedToken + "\n");
        File.SetUnixFileMode(tokenFile, UnixFileMode.UserRead);
        var database = await (await PostgresCluster.SharedAsync()).CreateDatabaseAsync();
        await using var replicaA = await TestService.StartAsync(StoreEngine.PostgreSql, Settings(tokenFile), postgres: database);
        await using var replicaB = await TestService.StartAsync(StoreEngine.PostgreSql, Settings(tokenFile), postgres: database);

        var fromA = await replicaA.AnonymousAdmin.ListKeysAsync(new ListKeysRequest(), Bearer(SharedToken));
        var fromB = await replicaB.AnonymousAdmin.ListKeysAsync(new ListKeysRequest(), Bearer(SharedToken));
        var wrong = Assert.ThrowsAsync<RpcException>(async () => await replicaB.AnonymousAdmin.ListKeysAsync(new ListKeysRequest(), Bearer(SharedToken + "x")));

        Assert.Multiple(() =>
        {
            Assert.That(fromA.Keys, Has.Count.EqualTo(1));
            Assert.That(fromB.Keys, Has.Count.EqualTo(1));
            Assert.That(wrong!.StatusCode, Is.EqualTo(StatusCode.Unauthenticated));
            Assert.That(File.ReadAllText(tokenFile).Trim(), Is.EqualTo(SharedToken), "the file is read, never rewritten");
        });
    }

    [Test]
    public async Task On_PostgreSQL_without_a_token_or_a_token_file_the_service_does_not_start_and_generates_nothing()
    {
        var database = await (await PostgresCluster.SharedAsync()).CreateDatabaseAsync();
        var data = Path.Combine(_root, "data");

        var failure = Assert.CatchAsync<ServiceStartException>(async () => await TestService.StartAsync(StoreEngine.PostgreSql, Settings(tokenFile: null), postgres: database, directory: data));

        Assert.Multiple(() =>
        {
            Assert.That(failure!.Message, Is.EqualTo(
                "BudgetService:AdminToken is not set: on PostgreSQL every replica must accept the same admin token, so none is generated; "
                + "set BudgetService:AdminToken (for example in the environment variable BudgetService__AdminToken), or BudgetService:AdminTokenFile to a file every replica reads"));
            Assert.That(File.Exists(Path.Combine(data, "admin-token")), Is.False);
        });
    }

    [TestCase("")]
    [TestCase(null)]
    public async Task On_PostgreSQL_a_token_file_that_is_missing_or_empty_stops_the_start_and_is_not_written(string? content)
    {
        var database = await (await PostgresCluster.SharedAsync()).CreateDatabaseAsync();
        var tokenFile = Path.Combine(_root, "admin-token");
        if (content is not null)
        {
            await File.WriteAllTextAsync(tokenFile, content);
            File.SetUnixFileMode(tokenFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        var failure = Assert.CatchAsync<ServiceStartException>(async () => await TestService.StartAsync(StoreEngine.PostgreSql, Settings(tokenFile), postgres: database));

        Assert.Multiple(() =>
        {
            Assert.That(failure!.Message, Does.StartWith($"The admin token file {tokenFile} {(content is null ? "does not exist" : "is empty")}: on PostgreSQL the service does not generate"));
            Assert.That(File.Exists(tokenFile) ? File.ReadAllText(tokenFile) : null, Is.EqualTo(content), "nothing was written");
        });
    }

    private static Dictionary<string, string?> Settings(string? tokenFile) =>
        TestService.Settings(
            BudgetServiceHost.Key("agent", "100"),
            new Dictionary<string, string?> { ["BudgetService:AdminToken"] = string.Empty, ["BudgetService:AdminTokenFile"] = tokenFile });

    private static Metadata Bearer(string token) => new() { { "authorization", "Bearer " + token } };
}
