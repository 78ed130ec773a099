using Twilio.Clients;
using Twilio.Http;

namespace Keybrake.Client.Twilio;

/// <summary>Builds a Twilio client on a guarded <see cref="System.Net.Http.HttpClient"/>.</summary>
internal static class TwilioClients
{
    public static TwilioRestClient Create(string username, string brakeKey, System.Net.Http.HttpClient guardedHttpClient, string? accountSid, string? region, string? edge) =>
        new(username, brakeKey, accountSid: accountSid, region: region, httpClient: new SystemNetHttpClient(guardedHttpClient), edge: edge);

    /// <summary>
    /// The primary handler of a guarded Twilio client: pooled, and never following redirects, because a
    /// redirected POST would be sent again below the guard (Twilio's own client does not follow them either).
    /// </summary>
    public static SocketsHttpHandler CreatePrimaryHandler() => new()
    {
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        AllowAutoRedirect = false,
    };
}
