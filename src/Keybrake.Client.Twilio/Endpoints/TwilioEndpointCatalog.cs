namespace Keybrake.Client.Twilio;

/// <summary>
/// The Twilio endpoints that cost money, by method and path. Everything else costs nothing as far as the guard
/// counts; endpoint rules in the key's policy decide whether it may be called at all.
/// </summary>
internal static class TwilioEndpointCatalog
{
    private const string ApiVersion = "2010-04-01";

    private static readonly System.Buffers.SearchValues<char> s_hex = System.Buffers.SearchValues.Create("0123456789abcdefABCDEF");

    public static TwilioEndpointKind Find(string method, IReadOnlyList<string> segments)
    {
        if (method != "POST")
        {
            return TwilioEndpointKind.Other;
        }

        if (segments.Count >= 4 && segments[0] == ApiVersion && segments[1] == "Accounts")
        {
            switch (segments.Count)
            {
                case 4 when segments[3] == "Messages.json":
                    return TwilioEndpointKind.MessageCreate;
                case 4 when segments[3] == "Calls.json":
                    return TwilioEndpointKind.CallCreate;
                case 4 when segments[3] == "IncomingPhoneNumbers.json":
                case 5 when segments[3] == "IncomingPhoneNumbers" && segments[4] is "Local.json" or "Mobile.json" or "TollFree.json":
                    return TwilioEndpointKind.PerRequest;
            }
        }

        // Verify (verify.twilio.com) charges per verification started.
        return segments.Count == 4 && segments[0] == "v2" && segments[1] == "Services" && segments[3] == "Verifications"
            ? TwilioEndpointKind.PerRequest
            : TwilioEndpointKind.Other;
    }

    /// <summary>Whether a response to this path can carry message or call prices (a fetch, a list, an update).</summary>
    public static bool MayReportPrices(IReadOnlyList<string> segments) =>
        segments.Count is 4 or 5 && segments[0] == ApiVersion && segments[1] == "Accounts"
        && (segments[3].StartsWith("Messages", StringComparison.Ordinal) || segments[3].StartsWith("Calls", StringComparison.Ordinal));

    /// <summary>The path with SIDs replaced by placeholders: <c>/2010-04-01/Accounts/{sid}/Messages/{sid}.json</c>.</summary>
    public static string TemplateOf(IReadOnlyList<string> segments)
    {
        var parts = new string[segments.Count];
        for (var i = 0; i < segments.Count; i++)
        {
            var segment = segments[i];
            var json = segment.EndsWith(".json", StringComparison.Ordinal);
            var name = json ? segment[..^5] : segment;
            parts[i] = IsSid(name) ? (json ? "{sid}.json" : "{sid}") : segment;
        }

        return "/" + string.Join('/', parts);
    }

    /// <summary>A Twilio SID: two upper-case letters and 32 hexadecimal digits.</summary>
    public static bool IsSid(ReadOnlySpan<char> value) =>
        value.Length == 34 && char.IsAsciiLetterUpper(value[0]) && char.IsAsciiLetterUpper(value[1]) && value[2..].IndexOfAnyExcept(s_hex) < 0;
}
