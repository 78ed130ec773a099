using Keybrake.Client;
using Microsoft.Extensions.Http;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Adds Keybrake to <see cref="HttpClient"/>s built by <see cref="System.Net.Http.IHttpClientFactory"/>.</summary>
public static class KeybrakeHttpClientBuilderExtensions
{
    /// <summary>
    /// Puts the Keybrake guard into a named or typed client for a vendor whose package is registered
    /// (<c>AddStripe</c>, ...). Add it before any retry handler: retries below the guard are invisible to it.
    /// Adding it twice to one client guards each request once.
    /// </summary>
    /// <param name="builder">The client builder.</param>
    /// <param name="vendor">The vendor, such as <c>stripe</c>.</param>
    public static IHttpClientBuilder AddKeybrakeGuard(this IHttpClientBuilder builder, string vendor)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(vendor);
        builder.Services.AddKeybrake();

        // Added when the client's handler chain is built, and only once however often this is called:
        // two guards in one chain would reserve every call twice.
        builder.Services.Configure<HttpClientFactoryOptions>(builder.Name, options => options.HttpMessageHandlerBuilderActions.Add(handlers =>
        {
            if (!handlers.AdditionalHandlers.Any(handler => handler is KeybrakeGuardHandler))
            {
                handlers.AdditionalHandlers.Add(new KeybrakeGuardHandler(
                    handlers.Services.GetRequiredService<GuardPipeline>(),
                    VendorProfiles.Find(handlers.Services, vendor)));
            }
        }));
        return builder;
    }

    /// <summary>
    /// Stamps the current <see cref="KeybrakeRun"/> id on the client's requests as <c>x-agent-run-id</c> and
    /// <c>x-litellm-session-id</c>, so a LiteLLM proxy (or any service) logs the same run id Keybrake audits.
    /// </summary>
    public static IHttpClientBuilder AddKeybrakeRunHeaders(this IHttpClientBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddHttpMessageHandler(static () => new RunIdHeaderHandler());
    }
}

/// <summary>Finds the registered profile for a vendor name.</summary>
internal static class VendorProfiles
{
    public static VendorProfile Find(IServiceProvider services, string vendor)
    {
        foreach (var profile in services.GetServices<VendorProfile>())
        {
            if (string.Equals(profile.Vendor, vendor, StringComparison.OrdinalIgnoreCase))
            {
                return profile;
            }
        }

        throw new InvalidOperationException(
            $"No Keybrake vendor profile is registered for '{vendor}'. Register the vendor package, for example builder.AddStripe().");
    }
}
