using Keybrake.BudgetService.Alerts;
using Keybrake.BudgetService.Clients;
using Keybrake.BudgetService.Hosting;
using Keybrake.BudgetService.Store;
using Keybrake.Client.TestUtilities.Logging;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Keybrake.BudgetService.Tests.Stores;

/// <summary>
/// One engine's stores, registered through the service's own seam (<c>AddSqliteStore</c> / <c>AddPostgreSqlStore</c>)
/// in a container of their own: two of them on one PostgreSQL database are two replicas' stores.
/// </summary>
internal sealed class StoreUnderTest : IAsyncDisposable
{
    private readonly ServiceProvider _services;

    private StoreUnderTest(ServiceProvider services, CapturingLoggerProvider logs)
    {
        _services = services;
        Logs = logs;
    }

    public IBudgetStore Budget => _services.GetRequiredService<IBudgetStore>();

    public IKeyStore Keys => _services.GetRequiredService<IKeyStore>();

    public IClientStore Clients => _services.GetRequiredService<IClientStore>();

    public IAdminQueries Admin => _services.GetRequiredService<IAdminQueries>();

    /// <summary>Fired alerts and their deliveries.</summary>
    public IAlertStore Alerts => _services.GetRequiredService<IAlertStore>();

    /// <summary>The engine's export and import.</summary>
    public Store.Transfer.StoreTransfer Transfer => _services.GetRequiredService<Store.Transfer.StoreTransfer>();

    /// <summary>Everything the stores logged, at every level.</summary>
    public CapturingLoggerProvider Logs { get; }

    /// <summary>The SQLite file, or <see langword="null"/> on PostgreSQL.</summary>
    public string? SqlitePath { get; private set; }

    /// <summary>The PostgreSQL database, or <see langword="null"/> on SQLite.</summary>
    public string? Postgres { get; private set; }

    /// <summary>The SQLite stores on the file at <paramref name="path"/>.</summary>
    public static StoreUnderTest Sqlite(string path)
    {
        var store = Create(services => services.Configure<BudgetServiceOptions>(options => options.StoragePath = path).AddSqliteStore());
        store.SqlitePath = path;
        return store;
    }

    /// <summary>The PostgreSQL stores on the database <paramref name="connectionString"/> names, with a connection pool of their own.</summary>
    public static StoreUnderTest PostgreSql(string connectionString)
    {
        var store = Create(services => services.AddPostgreSqlStore(connectionString));
        store.Postgres = connectionString;
        return store;
    }

    /// <summary>Opens the stores (creates or upgrades the schema).</summary>
    public async Task<StoreUnderTest> MigratedAsync()
    {
        await Budget.MigrateAsync(CancellationToken.None);
        return this;
    }

    public async ValueTask DisposeAsync()
    {
        await _services.DisposeAsync();
        Logs.Dispose();
    }

    private static StoreUnderTest Create(Action<IServiceCollection> register)
    {
        var logs = new CapturingLoggerProvider();
        var services = new ServiceCollection()
            .AddLogging(logging => logging.SetMinimumLevel(LogLevel.Trace).AddProvider(logs))
            .AddSingleton(TimeProvider.System);
        register(services);
        return new StoreUnderTest(services.BuildServiceProvider(), logs);
    }
}
