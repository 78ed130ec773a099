using Keybrake.BudgetService.Alerts;
using Keybrake.BudgetService.Clients;
using Keybrake.BudgetService.Hosting;
using Keybrake.BudgetService.Replicas;
using Keybrake.BudgetService.Store.Postgres;
using Keybrake.BudgetService.Store.Sqlite;
using Keybrake.BudgetService.Store.Transfer;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Keybrake.BudgetService.Store;

/// <summary>
/// The store seam: one registration per engine, chosen by <c>BudgetService:Store</c>. Each registers the four
/// stores the service uses (<see cref="IBudgetStore"/>, <see cref="IKeyStore"/>, <see cref="IClientStore"/>,
/// <see cref="IAdminQueries"/>), its export and import (<see cref="StoreTransfer"/>) and the engine's own background work; a service registered before (a test's) wins.
/// </summary>
internal static class StoreRegistration
{
    /// <summary>The configuration key of the PostgreSQL connection string (<c>ConnectionStrings:Keybrake</c>).</summary>
    public const string ConnectionStringName = "Keybrake";

    /// <summary>Registers the engine the configuration names; an unknown engine, or PostgreSQL without a connection string, cannot start.</summary>
    public static IServiceCollection AddBudgetStore(this IServiceCollection services, IConfiguration configuration)
    {
        var engine = configuration[$"{BudgetServiceOptions.SectionName}:{nameof(BudgetServiceOptions.Store)}"];
        if (string.IsNullOrWhiteSpace(engine) || engine.Equals(BudgetServiceOptions.SqliteStore, StringComparison.OrdinalIgnoreCase))
        {
            return services.AddSqliteStore();
        }

        if (!engine.Equals(BudgetServiceOptions.PostgreSqlStore, StringComparison.OrdinalIgnoreCase))
        {
            throw new ServiceStartException(
                $"{BudgetServiceOptions.SectionName}:{nameof(BudgetServiceOptions.Store)} is '{engine}': use {BudgetServiceOptions.SqliteStore} (the default) or {BudgetServiceOptions.PostgreSqlStore}");
        }

        var connectionString = configuration.GetConnectionString(ConnectionStringName);
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            throw new ServiceStartException(
                $"{BudgetServiceOptions.SectionName}:{nameof(BudgetServiceOptions.Store)} is {BudgetServiceOptions.PostgreSqlStore}, but ConnectionStrings:{ConnectionStringName} is not set: "
                + $"give the database's connection string (for example in the environment variable ConnectionStrings__{ConnectionStringName})");
        }

        return services.AddPostgreSqlStore(connectionString);
    }

    /// <summary>The embedded default: one SQLite file at <see cref="BudgetServiceOptions.StoragePath"/>, and its WAL checkpoints.</summary>
    public static IServiceCollection AddSqliteStore(this IServiceCollection services)
    {
        services.TryAddSingleton<IBudgetStore>(sp => new SqliteBudgetStore(
            StoragePath(sp),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<SqliteBudgetStore>>()));
        services.TryAddSingleton<IKeyStore>(sp => new SqliteKeyStore(StoragePath(sp)));
        services.TryAddSingleton<IAdminQueries>(sp => new SqliteAdminQueries(StoragePath(sp)));
        services.TryAddSingleton<IClientStore>(sp => new SqliteClientStore(StoragePath(sp)));
        services.TryAddSingleton<StoreTransfer>(sp => new SqliteStoreTransfer(StoragePath(sp)));
        services.TryAddSingleton<IAlertStore>(sp => new SqliteAlertStore(StoragePath(sp)));

        // One process makes every change itself and runs every duty.
        services.TryAddSingleton(new ChangeFeed(listening: true));
        services.TryAddSingleton<IClusterDuties, SingleProcessDuties>();
        return services;
    }

    /// <summary>PostgreSQL: one connection pool shared by the stores; the schema is migrated on start (<see cref="IBudgetStore.MigrateAsync"/>).</summary>
    public static IServiceCollection AddPostgreSqlStore(this IServiceCollection services, string connectionString)
    {
        services.TryAddSingleton(sp => new PostgresDatabase(connectionString, sp.GetRequiredService<ILoggerFactory>()));
        services.TryAddSingleton<IBudgetStore>(sp => new PostgresBudgetStore(sp.GetRequiredService<PostgresDatabase>(), sp.GetRequiredService<ILogger<PostgresBudgetStore>>()));
        services.TryAddSingleton<IKeyStore>(sp => new PostgresKeyStore(sp.GetRequiredService<PostgresDatabase>()));
        services.TryAddSingleton<IAdminQueries>(sp => new PostgresAdminQueries(sp.GetRequiredService<PostgresDatabase>()));
        services.TryAddSingleton<IClientStore>(sp => new PostgresClientStore(sp.GetRequiredService<PostgresDatabase>()));
        services.TryAddSingleton<StoreTransfer>(sp => new PostgresStoreTransfer(sp.GetRequiredService<PostgresDatabase>()));
        services.TryAddSingleton<IAlertStore>(sp => new PostgresAlertStore(sp.GetRequiredService<PostgresDatabase>()));

        // Replicas: each hears of the others' changes (LISTEN/NOTIFY), and periodic work runs once per cluster.
        services.TryAddSingleton(new ChangeFeed(listening: false));
        services.TryAddSingleton<ReplicaChanges>();
        services.AddHostedService<PostgresChangeListener>();
        services.TryAddSingleton<IClusterDuties, PostgresClusterDuties>();
        return services;
    }

    private static string StoragePath(IServiceProvider services) =>
        services.GetRequiredService<IOptions<BudgetServiceOptions>>().Value.StoragePath;
}
