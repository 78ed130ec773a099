using System.Net.Http.Headers;
using System.Text;

namespace Keybrake.Client.Twilio;

/// <summary>
/// Twilio's credential: HTTP Basic with the Account SID or an API key SID as the user name and the auth token
/// or API key secret as the password. The brake key takes the password's place.
/// </summary>
internal static class TwilioBasicAuth
{
    public static bool TryRead(HttpRequestMessage request, out string username, out string password)
    {
        username = string.Empty;
        password = string.Empty;
        var authorization = request.Headers.Authorization;
        if (authorization?.Parameter is not { Length: > 0 } parameter
            || !string.Equals(authorization.Scheme, "Basic", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        string decoded;
        try
        {
            decoded = Encoding.UTF8.GetString(Convert.FromBase64String(parameter));
        }
        catch (FormatException)
        {
            return false;
        }

        var colon = decoded.IndexOf(':', StringComparison.Ordinal);
        if (colon < 0)
        {
            return false;
        }

        username = decoded[..colon];
        password = decoded[(colon + 1)..];
        return true;
    }

    public static AuthenticationHeaderValue Create(string username, string password) =>
        new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{username}:{password}")));
}
