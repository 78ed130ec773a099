namespace Keybrake.Policies;

/// <summary>
/// A key's compiled endpoint rules: deny wins (in any case of the path), and with allow rules present anything
/// unmatched is denied.
/// </summary>
public sealed class EndpointRules
{
    /// <summary>No rules: every endpoint is allowed.</summary>
    public static readonly EndpointRules AllowAll = new([], []);

    private readonly EndpointPattern[] _allow;
    private readonly EndpointPattern[] _deny;
    private readonly EndpointRules? _also;

    internal EndpointRules(EndpointPattern[] allow, EndpointPattern[] deny)
        : this(allow, deny, also: null)
    {
    }

    private EndpointRules(EndpointPattern[] allow, EndpointPattern[] deny, EndpointRules? also)
    {
        _allow = allow;
        _deny = deny;
        _also = also;
    }

    /// <summary>Rules a call must pass both of.</summary>
    /// <param name="first">One set of rules.</param>
    /// <param name="second">The other.</param>
    public static EndpointRules Both(EndpointRules first, EndpointRules second) =>
        first == AllowAll ? second : second == AllowAll ? first : new EndpointRules(first._allow, first._deny, second);

    /// <summary>Returns <see langword="null"/> when the call is allowed, else why not.</summary>
    /// <param name="method">The HTTP method.</param>
    /// <param name="pathSegments">The request path's segments, without the slashes.</param>
    public string? Check(string method, IReadOnlyList<string> pathSegments) =>
        CheckOwn(method, pathSegments) ?? _also?.Check(method, pathSegments);

    private string? CheckOwn(string method, IReadOnlyList<string> pathSegments)
    {
        foreach (var rule in _deny)
        {
            if (rule.Matches(method, pathSegments, ignoreCase: true))
            {
                return $"the key's deny rule '{rule.Text}' matches";
            }
        }

        if (_allow.Length == 0)
        {
            return null;
        }

        foreach (var rule in _allow)
        {
            if (rule.Matches(method, pathSegments))
            {
                return null;
            }
        }

        return "no allow rule of the key matches";
    }
}
