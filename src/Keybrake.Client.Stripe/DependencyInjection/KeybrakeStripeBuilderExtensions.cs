using Keybrake.Client;
using Keybrake.Client.Stripe;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Stripe;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the Stripe guard and a guarded Stripe.net <see cref="StripeClient"/>.</summary>
public static class KeybrakeStripeBuilderExtensions
{
    /// <summary>The name of the <see cref="HttpClient"/> that <see cref="AddStripeClient(IKeybrakeBuilder, string)"/> registers.</summary>
    public const string HttpClientName = "Keybrake.Stripe";

    /// <summary>
    /// Registers the Stripe vendor profile (endpoint catalogue, currency rules, Stripe-shaped denials) so keys
    /// with <c>"Vendor": "stripe"</c> validate and any client can carry the Stripe guard. Calling it again is harmless.
    /// </summary>
    public static IKeybrakeBuilder AddStripe(this IKeybrakeBuilder builder, Action<KeybrakeStripeOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        if (!services.Any(d => d.ServiceType == typeof(StripeRegistered)))
        {
            services.AddSingleton(new StripeRegistered());
            builder.AddVendor<StripeVendorProfile>();
            services.AddOptions<KeybrakeStripeOptions>().ValidateOnStart();
            services.AddSingleton<IConfigureOptions<KeybrakeStripeOptions>>(sp => new ConfigureOptions<KeybrakeStripeOptions>(options =>
                sp.GetService<IConfiguration>()?.GetSection(KeybrakeStripeOptions.SectionName).Bind(options)));
            services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<KeybrakeStripeOptions>, KeybrakeStripeOptionsValidator>());
        }

        if (configure is not null)
        {
            services.Configure(configure);
        }

        return builder;
    }

    /// <summary>
    /// Registers <see cref="StripeClient"/> and <see cref="IStripeClient"/> singletons configured with a brake
    /// key, whose <see cref="SystemNetHttpClient"/> wraps an <see cref="IHttpClientFactory"/> client carrying the
    /// guard. Code that takes a <see cref="StripeClient"/> is guarded without other changes.
    /// </summary>
    /// <param name="builder">The Keybrake builder.</param>
    /// <param name="brakeKey">The <c>vault_key_...</c> the client presents; the guard swaps it for the real secret.</param>
    public static IKeybrakeBuilder AddStripeClient(this IKeybrakeBuilder builder, string brakeKey)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(brakeKey);
        return builder.AddStripeClient(options => options.BrakeKey = brakeKey);
    }

    /// <summary>Registers the guarded <see cref="StripeClient"/>, configured in code (brake key or key id, API base, retries).</summary>
    public static IKeybrakeBuilder AddStripeClient(this IKeybrakeBuilder builder, Action<KeybrakeStripeClientOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        builder.AddStripe();
        var services = builder.Services;
        services.AddOptions<KeybrakeStripeClientOptions>().Configure(configure).ValidateOnStart();
        if (services.Any(d => d.ServiceType == typeof(StripeClientRegistered)))
        {
            return builder;
        }

        services.AddSingleton(new StripeClientRegistered());

        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<KeybrakeStripeClientOptions>, KeybrakeStripeClientOptionsValidator>());
        services.AddHttpClient(HttpClientName)
            .ConfigureHttpClient(client => client.Timeout = SystemNetHttpClient.DefaultHttpTimeout)
            .ConfigurePrimaryHttpMessageHandler(static () => new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
            .AddKeybrakeGuard(StripeVendorProfile.VendorName);
        services.TryAddSingleton(sp =>
        {
            var options = sp.GetRequiredService<IOptions<KeybrakeStripeClientOptions>>().Value;
            var brakeKey = options.BrakeKey ?? sp.GetRequiredService<IOptions<KeybrakeOptions>>().Value.Keys[options.KeyId!].BrakeKey;
            var http = sp.GetRequiredService<IHttpClientFactory>().CreateClient(HttpClientName);
            return StripeClients.Create(brakeKey, http, options);
        });
        services.TryAddSingleton<IStripeClient>(sp => sp.GetRequiredService<StripeClient>());
        return builder;
    }

    /// <summary>
    /// Puts the Stripe guard on a named or typed client you build yourself (for example one you hand to a
    /// <see cref="SystemNetHttpClient"/>).
    /// </summary>
    public static IHttpClientBuilder AddKeybrakeStripeGuard(this IHttpClientBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddKeybrake().AddStripe();
        return builder.AddKeybrakeGuard(StripeVendorProfile.VendorName);
    }

    // Marks what is registered already, so that calling again is harmless. A private type: a user's own
    // registrations (an extra options validator, say) can never look like ours.
    private sealed class StripeRegistered;

    private sealed class StripeClientRegistered;
}
