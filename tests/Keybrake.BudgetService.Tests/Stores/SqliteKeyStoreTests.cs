using Keybrake.BudgetService.Store;
using Microsoft.Data.Sqlite;
using static Keybrake.BudgetService.Tests.Stores.StoreCalls;

namespace Keybrake.BudgetService.Tests.Stores;

/// <summary>The SQLite key store's writes are transactions: a fault part-way through one leaves the key as it was.</summary>
public sealed class SqliteKeyStoreTests
{
    private string _folder = null!;

    [SetUp]
    public void CreateFolder() => _folder = Directory.CreateTempSubdirectory("keybrake-key-store-").FullName;

    [TearDown]
    public void DeleteFolder() => Directory.Delete(_folder, recursive: true);

    [Test]
    public async Task A_policy_change_whose_read_back_fails_leaves_the_key_as_it_was()
    {
        var path = Path.Combine(_folder, "budget.db");
        await using var store = await StoreUnderTest.Sqlite(path).MigratedAsync();
        await store.Keys.TryInsertAsync(new StoredKey("agent", "stripe", [1, 2, 3], 1, [9, 9], KeySource.Configuration, Noon, Noon), CancellationToken.None);

        // The fault: after the UPDATE, a trigger leaves a row the read-back cannot map (text where the brake key's hash is bytes).
        await ExecuteAsync(path, "CREATE TRIGGER fault AFTER UPDATE OF policy ON api_key BEGIN UPDATE api_key SET brake_key_sha256 = 'not bytes' WHERE key_id = NEW.key_id; END");
        var failed = Assert.CatchAsync(async () => await store.Keys.UpdatePolicyAsync("agent", [4, 5], KeySource.Admin, Noon.AddHours(1), CancellationToken.None));
        await ExecuteAsync(path, "DROP TRIGGER fault");

        var found = await store.Keys.FindAsync("agent", CancellationToken.None);
        Assert.Multiple(() =>
        {
            Assert.That(failed, Is.InstanceOf<InvalidCastException>());
            Assert.That(found, Is.Not.Null, "the row is readable: the trigger's write was undone with the update");
            Assert.That((found!.Policy, found.PolicyVersion, found.Source, found.UpdatedAt, found.BrakeKeySha256),
                Is.EqualTo((new byte[] { 1, 2, 3 }, 1L, KeySource.Configuration, Noon, new byte[] { 9, 9 })), "nothing of the failed change was kept");
        });
    }

    private static async Task ExecuteAsync(string path, string sql)
    {
        await using var connection = new SqliteConnection($"Data Source={path};Pooling=False");
        await connection.OpenAsync();
        await using var command = new SqliteCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}
