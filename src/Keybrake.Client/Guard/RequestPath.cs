using System.Diagnostics.CodeAnalysis;

namespace Keybrake.Client;

/// <summary>
/// Splits a request URI into decoded path segments for endpoint rules. Refuses the tricks that would let a
/// call slip past a rule: encoded slashes, dot segments, relative URIs.
/// </summary>
internal static class RequestPath
{
    public static bool TryParse(Uri? uri, [NotNullWhen(true)] out string[]? segments, [NotNullWhen(false)] out string? error)
    {
        segments = null;
        error = null;
        if (uri is null || !uri.IsAbsoluteUri)
        {
            error = "the request has no absolute URI";
            return false;
        }

        var parts = uri.AbsolutePath.Split('/', StringSplitOptions.RemoveEmptyEntries);
        for (var i = 0; i < parts.Length; i++)
        {
            var part = parts[i];
            if (part.Contains('%', StringComparison.Ordinal))
            {
                part = Uri.UnescapeDataString(part);
                parts[i] = part;
            }

            if (part is "." or ".." || part.AsSpan().IndexOfAny('/', '\\') >= 0)
            {
                error = $"path segment {i + 1} hides a path separator or a dot segment";
                return false;
            }
        }

        segments = parts;
        return true;
    }

    /// <summary>The path as the segments spell it, for audit records of endpoints no profile templated.</summary>
    public static string Join(IReadOnlyList<string> segments) => "/" + string.Join('/', segments);
}
