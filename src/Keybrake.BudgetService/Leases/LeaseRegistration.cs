using Keybrake.BudgetService.Store.Postgres;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Keybrake.BudgetService.Leases;

/// <summary>Budget leases: their settings, events, and the sweeper that ends expired ones.</summary>
internal static class LeaseRegistration
{
    public static IServiceCollection AddLeases(this IServiceCollection services)
    {
        services.AddOptions<LeaseServiceOptions>().BindConfiguration(LeaseServiceOptions.SectionName).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<LeaseServiceOptions>, LeaseServiceOptionsValidator>());
        services.TryAddSingleton<ILeaseEventRelay>(sp => sp.GetService<PostgresDatabase>() is { } database ? new PostgresLeaseRelay(database) : new NoLeaseRelay());
        services.TryAddSingleton<LeaseEvents>();
        services.TryAddSingleton<LeaseSweeper>();
        services.AddHostedService(sp => sp.GetRequiredService<LeaseSweeper>());
        return services;
    }
}
