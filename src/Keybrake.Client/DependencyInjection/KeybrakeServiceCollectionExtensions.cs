using Keybrake.Client;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers Keybrake.</summary>
public static class KeybrakeServiceCollectionExtensions
{
    /// <summary>
    /// Registers the Keybrake guard with the embedded ledger. Options bind from the <c>Keybrake</c>
    /// configuration section when the host has configuration, then <paramref name="configure"/> runs; they
    /// are validated at start-up. Calling it again only adds <paramref name="configure"/>.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Optional code configuration, applied after the configuration section.</param>
    /// <returns>A builder for vendor registrations such as <c>AddStripeClient</c>.</returns>
    public static IKeybrakeBuilder AddKeybrake(this IServiceCollection services, Action<KeybrakeOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        if (!services.Any(d => d.ServiceType == typeof(GuardPipeline)))
        {
            AddCoreServices(services);
        }

        if (configure is not null)
        {
            services.Configure(configure);
        }

        return new KeybrakeBuilder(services);
    }

    /// <summary>Adds code configuration to Keybrake's options.</summary>
    public static IKeybrakeBuilder Configure(this IKeybrakeBuilder builder, Action<KeybrakeOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        builder.Services.Configure(configure);
        return builder;
    }

    /// <summary>Adds a sink that receives every audit record (in addition to the JSON-lines file, if configured).</summary>
    public static IKeybrakeBuilder AddAuditSink<TSink>(this IKeybrakeBuilder builder)
        where TSink : class, IAuditSink
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IAuditSink, TSink>());
        return builder;
    }

    /// <summary>Adds an audit sink instance.</summary>
    public static IKeybrakeBuilder AddAuditSink(this IKeybrakeBuilder builder, IAuditSink sink)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(sink);
        builder.Services.AddSingleton(sink);
        return builder;
    }

    /// <summary>Registers a vendor profile. Vendor packages call this from their own <c>Add&lt;Vendor&gt;</c> method.</summary>
    public static IKeybrakeBuilder AddVendor<TProfile>(this IKeybrakeBuilder builder)
        where TProfile : VendorProfile
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<VendorProfile, TProfile>());
        return builder;
    }

    private static void AddCoreServices(IServiceCollection services)
    {
        services.AddHttpClient();
        services.AddMetrics();
        services.TryAddSingleton(TimeProvider.System);

        services.AddOptions<KeybrakeOptions>().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IConfigureOptions<KeybrakeOptions>, BindKeybrakeConfiguration>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IOptionsChangeTokenSource<KeybrakeOptions>, KeybrakeConfigurationChangeTokenSource>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<KeybrakeOptions>, KeybrakeOptionsValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<KeybrakeOptions>, KeybrakeKeysValidator>());

        services.TryAddSingleton<IdGenerator>();
        services.TryAddSingleton<IKeyCatalog, ConfiguredKeyCatalog>();
        // The embedded ledger, unless a ledger package (Keybrake.Client.Central's UseBudgetService) replaces it.
        services.TryAddSingleton<EmbeddedBudgetLedger>();
        services.TryAddSingleton<IBudgetLedger>(sp => sp.GetRequiredService<EmbeddedBudgetLedger>());
        services.TryAddSingleton<IKeybrakeAdmin>(sp => sp.GetRequiredService<EmbeddedBudgetLedger>());
        services.TryAddSingleton<CallLimiter>();
        services.TryAddSingleton<DeferredReservations>();
        services.TryAddSingleton(sp => new KeybrakeDeferredObjects(sp));
        services.TryAddSingleton<AuditTrail>();
        services.TryAddSingleton<KeybrakeMetrics>();
        services.TryAddSingleton<GuardPipeline>();
    }
}
