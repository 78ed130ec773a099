using Stripe;

namespace Keybrake.Client.Stripe;

/// <summary>Stripe helpers for Keybrake without dependency injection.</summary>
public static class KeybrakeGuardStripeExtensions
{
    /// <summary>Creates a Stripe.net client that presents <paramref name="brakeKey"/> and whose calls pass the guard.</summary>
    /// <param name="guard">The guard, built with <c>AddStripe()</c>.</param>
    /// <param name="brakeKey">The <c>vault_key_...</c> the client presents.</param>
    /// <param name="configure">Optional API base and retry settings.</param>
    public static StripeClient CreateStripeClient(this KeybrakeGuard guard, string brakeKey, Action<KeybrakeStripeClientOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(guard);
        ArgumentException.ThrowIfNullOrWhiteSpace(brakeKey);
        var options = new KeybrakeStripeClientOptions { BrakeKey = brakeKey };
        configure?.Invoke(options);
        return StripeClients.Create(brakeKey, guard.CreateHttpClient(StripeVendorProfile.VendorName), options);
    }
}
