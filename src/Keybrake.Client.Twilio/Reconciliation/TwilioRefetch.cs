namespace Keybrake.Client.Twilio;

/// <summary>
/// How to fetch a deferred message or call again, as the budget service keeps it with the deferral (central mode):
/// the Basic-auth user name (an Account SID or API key SID, never a secret) and the resource's URL, separated by a
/// space. Read back only when it names that very resource, so a stored value can point nowhere else; the guard
/// still checks the host like any request's.
/// </summary>
internal static class TwilioRefetch
{
    /// <summary>The resource of a message or call just created with <paramref name="createPath"/>, or <see langword="null"/>.</summary>
    public static string? Of(HttpRequestMessage request, IReadOnlyList<string> createPath, string sid)
    {
        if (!TryFetchUri(request, createPath, sid, out var username, out var fetch))
        {
            return null;
        }

        var refetch = $"{username} {fetch.AbsoluteUri}";
        return refetch.Length <= 2048 ? refetch : null;
    }

    /// <summary>Where the created resource is fetched: <c>.../Accounts/{AC}/Messages/{SM}.json</c> on the request's host.</summary>
    public static bool TryFetchUri(HttpRequestMessage request, IReadOnlyList<string> createPath, string sid, out string username, out Uri fetch)
    {
        username = string.Empty;
        fetch = null!;
        if (request.RequestUri is not { IsAbsoluteUri: true } uri || createPath.Count != 4 || !TwilioEndpointCatalog.IsSid(sid)
            || !createPath[3].EndsWith(".json", StringComparison.Ordinal))
        {
            return false;
        }

        TwilioBasicAuth.TryRead(request, out username, out _);
        var resource = createPath[3][..^".json".Length]; // Messages or Calls
        fetch = new Uri(uri, $"/{createPath[0]}/{createPath[1]}/{createPath[2]}/{resource}/{sid}.json");
        return username.Length > 0;
    }

    /// <summary>Reads a stored refetch back, only if it is a message or call resource named <paramref name="sid"/>.</summary>
    public static bool TryParse(string? refetch, string sid, out string username, out Uri fetch)
    {
        username = string.Empty;
        fetch = null!;
        var space = refetch?.IndexOf(' ', StringComparison.Ordinal) ?? -1;
        if (refetch is null || space <= 0 || !TwilioEndpointCatalog.IsSid(refetch.AsSpan(0, space))
            || !Uri.TryCreate(refetch[(space + 1)..], UriKind.Absolute, out var uri) || uri.Scheme is not ("https" or "http")
            || !string.IsNullOrEmpty(uri.Query) || !string.IsNullOrEmpty(uri.Fragment) || !string.IsNullOrEmpty(uri.UserInfo))
        {
            return false;
        }

        var segments = uri.AbsolutePath.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (segments.Length != 5 || segments[0] != "2010-04-01" || segments[1] != "Accounts" || !TwilioEndpointCatalog.IsSid(segments[2])
            || segments[3] is not ("Messages" or "Calls") || !string.Equals(segments[4], sid + ".json", StringComparison.Ordinal))
        {
            return false;
        }

        username = refetch[..space];
        fetch = uri;
        return true;
    }
}
