namespace Keybrake.Client.Twilio;

/// <summary>Which hosts are Twilio's: <c>twilio.com</c>'s own sub-domains, named in plain DNS labels.</summary>
internal static class TwilioHosts
{
    private const string Suffix = ".twilio.com";

    public static bool IsTwilioHost(string host)
    {
        if (host.Length <= Suffix.Length || !host.EndsWith(Suffix, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        // Letters, digits, '-' and '.' only, with no empty label: "x..twilio.com" or "-.twilio.com" is not a
        // name Twilio serves, and refusing odd spellings costs nothing.
        var labels = host.AsSpan(0, host.Length - Suffix.Length);
        var previous = '.';
        foreach (var c in labels)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '.') || (c == '.' && previous == '.'))
            {
                return false;
            }

            previous = c;
        }

        return previous != '.';
    }
}
