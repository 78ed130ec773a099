using Stripe;

namespace Keybrake.Client.Stripe;

/// <summary>Builds a Stripe.net client on a guarded <see cref="HttpClient"/>.</summary>
internal static class StripeClients
{
    public static StripeClient Create(string brakeKey, HttpClient guardedHttpClient, KeybrakeStripeClientOptions options) =>
        new(new StripeClientOptions
        {
            ApiKey = brakeKey,
            HttpClient = new SystemNetHttpClient(guardedHttpClient, options.MaxNetworkRetries),
            ApiBase = options.ApiBase,
            ConnectBase = options.ConnectBase,
            FilesBase = options.FilesBase,
        });
}
