namespace Keybrake.Client;

/// <summary>
/// Refuses requests whose meaning the vendor could read differently from the guard: a header that asks the
/// server to treat the request as another method, or a body on a method that has none (the guard would check
/// the call as a read, and a server that honours the body could act on it).
/// </summary>
internal static class RequestShape
{
    private static readonly string[] s_methodOverrideHeaders = ["X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"];

    /// <summary>Why the request cannot be checked as sent, or <see langword="null"/> when its shape is plain.</summary>
    public static string? Check(HttpRequestMessage request, string method)
    {
        foreach (var header in s_methodOverrideHeaders)
        {
            if (request.Headers.Contains(header) || request.Content?.Headers.Contains(header) == true)
            {
                return $"the request carries {header}, which would let the vendor run it as another method than the {method} the guard checks";
            }
        }

        if (method is "GET" or "HEAD" && request.Content is { } content && content.Headers.ContentLength is not 0)
        {
            return $"a {method} request carries a body, which the guard does not check";
        }

        return null;
    }
}
