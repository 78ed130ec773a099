namespace Keybrake.BudgetService.Tests.Stores;

/// <summary>The store contract on SQLite: a new file in a temporary folder for each test.</summary>
public sealed class SqliteStoreContractTests : StoreContractTests
{
    private readonly List<string> _folders = [];

    private protected override async Task<StoreUnderTest> OpenFreshAsync()
    {
        var folder = Directory.CreateTempSubdirectory("keybrake-store-contract-").FullName;
        _folders.Add(folder);
        return await StoreUnderTest.Sqlite(Path.Combine(folder, "budget.db")).MigratedAsync();
    }

    [OneTimeTearDown]
    public void DeleteFolders()
    {
        foreach (var folder in _folders)
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
