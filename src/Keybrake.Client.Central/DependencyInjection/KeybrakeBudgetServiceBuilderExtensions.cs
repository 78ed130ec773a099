using Keybrake.Client;
using Keybrake.Client.Central;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Central mode: <c>services.AddKeybrake().UseBudgetService()</c>.</summary>
public static class KeybrakeBudgetServiceBuilderExtensions
{
    /// <summary>Switches the guard to the budget service configured under <c>Keybrake:BudgetService</c> (see the overload with <c>configure</c>).</summary>
    /// <param name="builder">The builder <c>AddKeybrake</c> returned.</param>
    /// <returns>The same builder.</returns>
    public static IKeybrakeBuilder UseBudgetService(this IKeybrakeBuilder builder) => Use(builder, configure: null);

    /// <summary>
    /// Switches the guard from the embedded ledger to the Keybrake budget service, so caps, reservations and revocation
    /// hold across every process that uses it. Options bind from <c>Keybrake:BudgetService</c> when the host has
    /// configuration (an <c>Address</c> or <c>Addresses</c> and a client credential are required), then
    /// <paramref name="configure"/> runs; they are validated at start-up. Calling it again only adds <paramref name="configure"/>.
    /// </summary>
    /// <param name="builder">The builder <c>AddKeybrake</c> returned.</param>
    /// <param name="configure">Code configuration, applied after the configuration section.</param>
    /// <returns>The same builder.</returns>
    public static IKeybrakeBuilder UseBudgetService(this IKeybrakeBuilder builder, Action<KeybrakeBudgetServiceOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        return Use(builder, configure);
    }

    /// <summary>Switches the guard to the budget service at <paramref name="address"/> (see the overload with <c>configure</c>).</summary>
    /// <param name="builder">The builder <c>AddKeybrake</c> returned.</param>
    /// <param name="address">The service's address, such as <c>https://budget.internal:7411</c>.</param>
    /// <returns>The same builder.</returns>
    public static IKeybrakeBuilder UseBudgetService(this IKeybrakeBuilder builder, Uri address)
    {
        ArgumentNullException.ThrowIfNull(address);
        return Use(builder, options => options.Address = address);
    }

    private static IKeybrakeBuilder Use(IKeybrakeBuilder builder, Action<KeybrakeBudgetServiceOptions>? configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        if (!services.Any(d => d.ServiceType == typeof(CentralModeMarker)))
        {
            AddCentralServices(services);
        }

        if (configure is not null)
        {
            services.Configure(configure);
        }

        return builder;
    }

    private static void AddCentralServices(IServiceCollection services)
    {
        services.AddSingleton<CentralModeMarker>();

        // Tells the core that the caps are the service's, and that no budget service setting goes unread.
        services.AddSingleton(new ExternalBudgetLedger("Keybrake.Client.Central"));

        services.AddOptions<KeybrakeBudgetServiceOptions>().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IConfigureOptions<KeybrakeBudgetServiceOptions>, BindBudgetServiceConfiguration>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<KeybrakeBudgetServiceOptions>, KeybrakeBudgetServiceOptionsValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<KeybrakeBudgetServiceOptions>, BudgetServiceAddressValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<KeybrakeBudgetServiceOptions>, ClientCredentialValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<KeybrakeBudgetServiceOptions>, BudgetServiceTlsValidator>());

        services.TryAddSingleton<GrpcBudgetLedger>();
        services.TryAddSingleton<GrpcKeybrakeAdmin>();
        services.TryAddSingleton<AuditOutbox>();
        BudgetServiceClients.Register(services);

        // In place of the embedded ledger that AddKeybrake registered.
        services.Replace(ServiceDescriptor.Singleton<IBudgetLedger>(sp => sp.GetRequiredService<GrpcBudgetLedger>()));
        services.Replace(ServiceDescriptor.Singleton<IKeybrakeAdmin>(sp => sp.GetRequiredService<GrpcKeybrakeAdmin>()));
        services.AddSingleton<ISharedDeferredObjects, SharedDeferredObjects>();

        // Every audit record also goes to the service, through the durable outbox.
        services.AddSingleton<IAuditSink>(sp => sp.GetRequiredService<AuditOutbox>());
    }

    /// <summary>Marks the collection as set up for central mode, so a second call adds nothing twice.</summary>
    private sealed class CentralModeMarker;
}
