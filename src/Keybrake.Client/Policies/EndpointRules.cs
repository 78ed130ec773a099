namespace Keybrake.Client;

/// <summary>A key's compiled endpoint rules: deny wins, and with allow rules present anything unmatched is denied.</summary>
internal sealed class EndpointRules
{
    public static readonly EndpointRules AllowAll = new([], []);

    private readonly EndpointPattern[] _allow;
    private readonly EndpointPattern[] _deny;

    public EndpointRules(EndpointPattern[] allow, EndpointPattern[] deny)
    {
        _allow = allow;
        _deny = deny;
    }

    /// <summary>Returns <see langword="null"/> when the call is allowed, else why not.</summary>
    public string? Check(string method, IReadOnlyList<string> pathSegments)
    {
        foreach (var rule in _deny)
        {
            if (rule.Matches(method, pathSegments))
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
