using Keybrake.BudgetService.Integrations.LiteLlm;
using Keybrake.BudgetService.Store;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Keybrake.BudgetService.Integrations;

/// <summary>The intake integrations: their store (the engine's budget store) and their routes on the admin port.</summary>
internal static class IntegrationRegistration
{
    public static IServiceCollection AddIntakeIntegrations(this IServiceCollection services)
    {
        services.TryAddSingleton(sp => sp.GetRequiredService<IBudgetStore>() as ILlmSpendStore
            ?? throw new InvalidOperationException($"The budget store {sp.GetRequiredService<IBudgetStore>().GetType().Name} keeps no LLM spend."));
        return services;
    }

    public static IEndpointRouteBuilder MapIntakeIntegrations(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapLiteLlmSpendLogs();
        return endpoints;
    }
}
