using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Keybrake.BudgetService.Alerts;

/// <summary>Budget alerts: settings, the evaluator and the sender (the store registers <see cref="IAlertStore"/> for its engine).</summary>
internal static class AlertRegistration
{
    public static IServiceCollection AddBudgetAlerts(this IServiceCollection services)
    {
        services.AddOptions<AlertOptions>().BindConfiguration(AlertOptions.SectionName).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<AlertOptions>, AlertOptionsValidator>());
        services.TryAddSingleton<AlertSignals>();
        services.TryAddSingleton<AlertParts>();
        services.TryAddSingleton<AlertWebhooks>();
        services.TryAddSingleton<DeliveryWakeup>();
        services.TryAddSingleton<AlertFiring>();
        services.TryAddSingleton<AlertEvaluator>();
        services.TryAddSingleton<AlertSender>();
        services.AddHostedService(sp => sp.GetRequiredService<AlertEvaluator>());
        services.AddHostedService(sp => sp.GetRequiredService<AlertSender>());
        return services;
    }

    /// <summary>Checks the alert settings and reads the webhook secrets now, so that a bad setting stops the start with its one line.</summary>
    public static void CheckAlertSettings(this IServiceProvider services) => services.GetRequiredService<AlertWebhooks>();
}
