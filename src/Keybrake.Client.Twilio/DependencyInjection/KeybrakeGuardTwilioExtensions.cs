using Twilio.Clients;

namespace Keybrake.Client.Twilio;

/// <summary>Twilio helpers for Keybrake without dependency injection.</summary>
public static class KeybrakeGuardTwilioExtensions
{
    /// <summary>Creates a Twilio client that presents <paramref name="brakeKey"/> as its password and whose calls pass the guard.</summary>
    /// <param name="guard">The guard, built with <c>AddTwilio()</c>.</param>
    /// <param name="username">The Account SID (<c>AC...</c>) or an API key SID (<c>SK...</c>).</param>
    /// <param name="brakeKey">The <c>vault_key_...</c> the client presents in place of the auth token.</param>
    /// <param name="accountSid">The Account SID, when <paramref name="username"/> is an API key SID.</param>
    /// <param name="innerHandler">What sends the allowed requests; a pooled handler that follows no redirects when empty.</param>
    public static TwilioRestClient CreateTwilioClient(this KeybrakeGuard guard, string username, string brakeKey, string? accountSid = null, HttpMessageHandler? innerHandler = null)
    {
        ArgumentNullException.ThrowIfNull(guard);
        ArgumentException.ThrowIfNullOrWhiteSpace(username);
        ArgumentException.ThrowIfNullOrWhiteSpace(brakeKey);
        var http = guard.CreateHttpClient(TwilioVendorProfile.VendorName, innerHandler ?? TwilioClients.CreatePrimaryHandler());
        return TwilioClients.Create(username, brakeKey, http, accountSid, region: null, edge: null);
    }
}
