namespace Keybrake.BudgetService.Tests;

/// <summary>The store engines a test class runs on: <c>[TestFixture(StoreEngine.Sqlite)]</c> and <c>[TestFixture(StoreEngine.PostgreSql)]</c>.</summary>
public enum StoreEngine
{
    Sqlite,
    PostgreSql,
}
