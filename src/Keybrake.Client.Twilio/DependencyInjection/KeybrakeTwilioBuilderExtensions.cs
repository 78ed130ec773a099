using Keybrake.Client;
using Keybrake.Client.Twilio;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Twilio.Clients;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the Twilio guard and a guarded <see cref="TwilioRestClient"/>.</summary>
public static class KeybrakeTwilioBuilderExtensions
{
    /// <summary>The name of the guarded <see cref="HttpClient"/> that <see cref="AddTwilioClient(IKeybrakeBuilder, Action{KeybrakeTwilioClientOptions})"/> uses.</summary>
    public const string HttpClientName = "Keybrake.Twilio";

    /// <summary>The named client Twilio.AspNet.Core's <c>AddTwilioClient</c> builds its <c>TwilioRestClient</c> on.</summary>
    public const string TwilioAspNetCoreClientName = "Twilio";

    /// <summary>
    /// Registers the Twilio vendor profile (segment counting, rate table, allowlists, Twilio-shaped denials) so
    /// keys with <c>"Vendor": "twilio"</c> validate and any client can carry the Twilio guard. Calling it again is harmless.
    /// </summary>
    public static IKeybrakeBuilder AddTwilio(this IKeybrakeBuilder builder, Action<KeybrakeTwilioOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        if (!services.Any(d => d.ServiceType == typeof(TwilioRegistered)))
        {
            services.AddSingleton(new TwilioRegistered());
            builder.AddVendor<TwilioVendorProfile>();
            services.AddOptions<KeybrakeTwilioOptions>().ValidateOnStart();
            services.AddSingleton<IConfigureOptions<KeybrakeTwilioOptions>>(sp => new ConfigureOptions<KeybrakeTwilioOptions>(options =>
                sp.GetService<IConfiguration>()?.GetSection(KeybrakeTwilioOptions.SectionName).Bind(options)));
            services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<KeybrakeTwilioOptions>, KeybrakeTwilioOptionsValidator>());
            services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<KeybrakeOptions>, TwilioKeyPolicyValidator>());
            services.TryAddSingleton<TwilioPriceReconciler>();
            services.TryAddSingleton<TwilioReconcilerShutdown>();
            services.TryAddSingleton<TwilioPricingApi>();

            // The Pricing API's client: the guard's own question, so no guard on it (it sets the real credential
            // itself, for pricing.twilio.com or the key's stand-in only), no retries, no redirects; the fetch's own
            // timeout (PricingApi:Timeout) ends it long before this one.
            services.AddHttpClient(TwilioPricingApi.HttpClientName)
                .ConfigureHttpClient(client => client.Timeout = TimeSpan.FromSeconds(60))
                .ConfigurePrimaryHttpMessageHandler(TwilioClients.CreatePrimaryHandler);

            // The guarded client: no retry handler (Twilio has no idempotency key, so a retried POST is a second
            // message), no redirects, the SDK's own timeout. The price check uses it too.
            services.AddHttpClient(HttpClientName)
                .ConfigureHttpClient(client => client.Timeout = TimeSpan.FromSeconds(100))
                .ConfigurePrimaryHttpMessageHandler(TwilioClients.CreatePrimaryHandler)
                .AddKeybrakeGuard(TwilioVendorProfile.VendorName);
        }

        if (configure is not null)
        {
            services.Configure(configure);
        }

        return builder;
    }

    /// <summary>
    /// Registers <see cref="TwilioRestClient"/> and <see cref="ITwilioRestClient"/> singletons that present a brake
    /// key as their password, on a guarded <see cref="HttpClient"/>. Code that takes either is guarded without
    /// other changes; for the static <c>TwilioClient</c>, pass the client to <c>TwilioClient.SetRestClient</c>.
    /// </summary>
    /// <param name="builder">The Keybrake builder.</param>
    /// <param name="username">The Account SID (<c>AC...</c>) or an API key SID (<c>SK...</c>).</param>
    /// <param name="brakeKey">The <c>vault_key_...</c> in the password's place; the guard swaps it for the real auth token.</param>
    public static IKeybrakeBuilder AddTwilioClient(this IKeybrakeBuilder builder, string username, string brakeKey)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(username);
        ArgumentException.ThrowIfNullOrWhiteSpace(brakeKey);
        return builder.AddTwilioClient(options =>
        {
            options.Username = username;
            options.BrakeKey = brakeKey;
        });
    }

    /// <summary>Registers the guarded <see cref="TwilioRestClient"/>, configured in code (user name, brake key or key id, region, edge).</summary>
    public static IKeybrakeBuilder AddTwilioClient(this IKeybrakeBuilder builder, Action<KeybrakeTwilioClientOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        builder.AddTwilio();
        var services = builder.Services;
        services.AddOptions<KeybrakeTwilioClientOptions>().Configure(configure).ValidateOnStart();
        if (services.Any(d => d.ServiceType == typeof(TwilioClientRegistered)))
        {
            return builder;
        }

        services.AddSingleton(new TwilioClientRegistered());

        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<KeybrakeTwilioClientOptions>, KeybrakeTwilioClientOptionsValidator>());
        services.TryAddSingleton(sp =>
        {
            var options = sp.GetRequiredService<IOptions<KeybrakeTwilioClientOptions>>().Value;
            var brakeKey = options.BrakeKey ?? sp.GetRequiredService<IOptions<KeybrakeOptions>>().Value.Keys[options.KeyId!].BrakeKey;
            var http = sp.GetRequiredService<IHttpClientFactory>().CreateClient(HttpClientName);
            return TwilioClients.Create(options.Username!, brakeKey, http, options.AccountSid, options.Region, options.Edge);
        });
        services.TryAddSingleton<ITwilioRestClient>(sp => sp.GetRequiredService<TwilioRestClient>());
        return builder;
    }

    /// <summary>
    /// Puts the Twilio guard on a named or typed client you build yourself, such as the <c>"Twilio"</c> client of
    /// Twilio.AspNet.Core (<c>services.AddHttpClient("Twilio").AddKeybrakeTwilioGuard()</c>). Never add a retrying
    /// handler to that client after this call: it would sit under the guard, and its retries of a POST would
    /// send messages the guard never counted.
    /// </summary>
    public static IHttpClientBuilder AddKeybrakeTwilioGuard(this IHttpClientBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddKeybrake().AddTwilio();
        return builder.AddKeybrakeGuard(TwilioVendorProfile.VendorName);
    }

    // Marks what is registered already, so that calling again is harmless. A private type: a user's own
    // registrations (an extra options validator, say) can never look like ours.
    private sealed class TwilioRegistered;

    private sealed class TwilioClientRegistered;
}
