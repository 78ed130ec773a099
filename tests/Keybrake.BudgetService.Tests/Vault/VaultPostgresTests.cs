using Keybrake.BudgetService.Hosting;
using Keybrake.BudgetService.Tests.Replicas;
using Keybrake.BudgetService.Vault;
using Keybrake.Client.TestUtilities.Postgres;
using Keybrake.Client.TestUtilities.Processes;
using Keybrake.Protocol;
using static Keybrake.BudgetService.Tests.Calls;

namespace Keybrake.BudgetService.Tests.Vault;

/// <summary>
/// The vault across replicas on one PostgreSQL database, and across a move from SQLite: a rotation through one replica
/// reaches the other's streams and its Authorize, and a moved store opens only under the master key that sealed it.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class VaultPostgresTests
{
    [Test]
    public async Task A_rotation_through_one_replica_reaches_the_other_replicas_stream_and_its_checks_and_deliveries()
    {
        var settings = VaultSettings.With(VaultSettings.MasterKeyA, "agent");
        var second = VaultSettings.NewSecret();
        await using var a = await TestService.StartAsync(StoreEngine.PostgreSql, settings);
        await using var b = await Replica.AlongsideAsync(a, settings);
        await a.Admin.SetKeySecretAsync(new SetKeySecretRequest { KeyId = "agent", Secret = VaultSettings.NewSecret() });
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var (call, eventsOnB) = Replica.Watch(b.Budget, cancel.Token, "agent");
        using var watch = call;

        // B heard of the first secret by the time its stream's snapshot says so; the snapshot may come first.
        var seen = await eventsOnB.NextAsync();
        while (seen.Keys.Single().SecretVersion != 1)
        {
            seen = await eventsOnB.NextAsync();
        }

        await a.Admin.RotateKeySecretAsync(new SetKeySecretRequest { KeyId = "agent", Secret = second });

        // B's snapshot may have read version 1 from the store before B's own notification of it arrived: B then
        // announces version 1 too, late. The rotation is the event that names version 2.
        var changed = await eventsOnB.NextAsync();
        while (changed.Keys.Single().SecretVersion < 2)
        {
            changed = await eventsOnB.NextAsync();
        }
        var oldOnB = await b.Budget.AuthorizeAsync(new AuthorizeRequest(Authorize("agent", 1)) { SecretVersion = 1 });
        var deliveredByB = await b.Budget.GetVendorSecretAsync(new GetVendorSecretRequest { KeyId = "agent" });
        var shownByB = await b.Admin.GetKeyAsync(new GetKeyRequest { KeyId = "agent" });

        Assert.Multiple(() =>
        {
            Assert.That((changed.Kind, changed.Keys.Single().SecretVersion), Is.EqualTo((KeyEventKind.SecretChanged, 2L)));
            Assert.That((oldOnB.Allowed, oldOnB.Reason), Is.EqualTo((false, ReasonCodes.SecretRotated)), "B holds the new version once its stream has the event");
            Assert.That((deliveredByB.Secret, deliveredByB.Version), Is.EqualTo((second, 2L)));
            Assert.That(shownByB.SecretVersion, Is.EqualTo(2L));
        });

        await cancel.CancelAsync();
    }

    [Test]
    public async Task A_SQLite_store_moved_to_PostgreSQL_carries_its_sealed_secrets_which_open_under_their_master_key_only()
    {
        var folder = Directory.CreateTempSubdirectory("keybrake-vault-move-").FullName;
        try
        {
            var secret = VaultSettings.NewSecret();
            var data = Path.Combine(folder, "sqlite");
            await using (var sqlite = await TestService.StartAsync(StoreEngine.Sqlite, VaultSettings.With(VaultSettings.MasterKeyA, "agent"), directory: data))
            {
                await sqlite.Admin.SetKeySecretAsync(new SetKeySecretRequest { KeyId = "agent", Secret = secret });
                await sqlite.StopAsync();
            }

            var database = await (await PostgresCluster.SharedAsync()).CreateDatabaseAsync();
            var dump = Path.Combine(folder, "budget.jsonl");
            var exported = await RunAsync(folder, ["export", "--to", dump, $"--BudgetService:StoragePath={Path.Combine(data, "budget.db")}"]);
            var imported = await RunAsync(folder, ["import", "--from", dump, "--BudgetService:Store=PostgreSQL"], database);

            var wrongKey = Assert.CatchAsync<ServiceStartException>(async () =>
                await TestService.StartAsync(StoreEngine.PostgreSql, VaultSettings.With(VaultSettings.MasterKeyB, "agent"), postgres: database));
            await using var moved = await TestService.StartAsync(StoreEngine.PostgreSql, VaultSettings.With(VaultSettings.MasterKeyA, "agent"), postgres: database);
            var delivered = await moved.Budget.GetVendorSecretAsync(new GetVendorSecretRequest { KeyId = "agent" });

            Assert.Multiple(async () =>
            {
                Assert.That((exported.ExitCode, imported.ExitCode), Is.EqualTo((0, 0)), exported.Errors + imported.Errors);
                Assert.That(await File.ReadAllTextAsync(dump), Does.Contain("key_secret").And.Not.Contain(secret), "the dump carries the secret sealed");
                Assert.That(wrongKey!.Message, Does.Contain($"sealed under master key {MasterKey.Parse(VaultSettings.MasterKeyA, "A").Id}, but the configured master key is {MasterKey.Parse(VaultSettings.MasterKeyB, "B").Id}"));
                Assert.That((delivered.Secret, delivered.Version), Is.EqualTo((secret, 1L)));
            });
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static async Task<(int ExitCode, string Errors)> RunAsync(string folder, string[] arguments, string? connectionString = null)
    {
        var environment = new Dictionary<string, string>();
        if (connectionString is not null)
        {
            environment["ConnectionStrings__Keybrake"] = connectionString;
        }

        await using var process = DotnetProcess.Start("Keybrake.BudgetService.dll", arguments, workingDirectory: folder, environment: environment);
        var exitCode = await process.WaitForExitAsync(TimeSpan.FromSeconds(120));
        var diagnostics = process.Diagnostics;
        return (exitCode, diagnostics[(diagnostics.IndexOf("stderr:\n", StringComparison.Ordinal) + "stderr:\n".Length)..].Trim());
    }
}
