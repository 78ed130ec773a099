using System.Diagnostics.CodeAnalysis;

namespace Keybrake.Policies;

/// <summary>One compiled endpoint rule such as <c>POST /v1/charges/*/capture</c>.</summary>
internal sealed class EndpointPattern
{
    private const string AnySegment = "*";
    private const string AnyRest = "**";

    private readonly string? _method;
    private readonly string[] _segments;

    private EndpointPattern(string text, string? method, string[] segments)
    {
        Text = text;
        _method = method;
        _segments = segments;
    }

    /// <summary>The rule as written.</summary>
    public string Text { get; }

    /// <summary>Parses a rule; the error names what is wrong with it.</summary>
    public static bool TryParse(string? text, [NotNullWhen(true)] out EndpointPattern? pattern, [NotNullWhen(false)] out string? error)
    {
        pattern = null;
        error = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            error = "an endpoint rule is empty; write it as 'METHOD /path', for example 'POST /v1/refunds'";
            return false;
        }

        var parts = text.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length != 2)
        {
            error = $"endpoint rule '{ShownValue.Of(text)}' is not 'METHOD /path'";
            return false;
        }

        var method = parts[0];
        if (method != AnySegment && !IsToken(method))
        {
            error = $"endpoint rule '{ShownValue.Of(text)}' has method '{ShownValue.Of(method)}', which is neither an HTTP method nor '*'";
            return false;
        }

        var path = parts[1];
        if (!path.StartsWith('/'))
        {
            error = $"endpoint rule '{ShownValue.Of(text)}' has a path that does not start with '/'";
            return false;
        }

        var segments = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        for (var i = 0; i < segments.Length; i++)
        {
            var segment = segments[i];
            if (segment == AnyRest && i != segments.Length - 1)
            {
                error = $"endpoint rule '{ShownValue.Of(text)}' uses '**' before the end of the path; '**' matches the rest of the path and must come last";
                return false;
            }

            if (segment != AnySegment && segment != AnyRest && segment.Contains('*', StringComparison.Ordinal))
            {
                error = $"endpoint rule '{ShownValue.Of(text)}' has segment '{ShownValue.Of(segment)}': '*' and '**' stand for whole segments only";
                return false;
            }
        }

        pattern = new EndpointPattern(text.Trim(), method == AnySegment ? null : method.ToUpperInvariant(), segments);
        return true;
    }

    /// <summary>Whether a call matches the rule. Segments are the decoded path segments, without empty ones.</summary>
    /// <param name="method">The call's method.</param>
    /// <param name="pathSegments">The call's decoded path segments.</param>
    /// <param name="ignoreCase">
    /// Whether literal segments match in any case. Deny rules do: a vendor that routes <c>/V1/PAYOUTS</c> like
    /// <c>/v1/payouts</c> must not get it past a rule written in lower case. Allow rules do not, so an allow
    /// rule that names an object id never allows another id that differs only in case.
    /// </param>
    public bool Matches(string method, IReadOnlyList<string> pathSegments, bool ignoreCase = false)
    {
        var comparison = ignoreCase ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
        if (_method is not null && !string.Equals(_method, method, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        for (var i = 0; i < _segments.Length; i++)
        {
            var segment = _segments[i];
            if (segment == AnyRest)
            {
                return true;
            }

            if (i >= pathSegments.Count)
            {
                return false;
            }

            if (segment != AnySegment && !string.Equals(segment, pathSegments[i], comparison))
            {
                return false;
            }
        }

        return _segments.Length == pathSegments.Count;
    }

    public override string ToString() => Text;

    private static bool IsToken(string method)
    {
        foreach (var c in method)
        {
            if (!char.IsAsciiLetter(c))
            {
                return false;
            }
        }

        return method.Length > 0;
    }
}
