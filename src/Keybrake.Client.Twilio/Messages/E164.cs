namespace Keybrake.Client.Twilio;

/// <summary>E.164 numbers as Twilio takes them: a plus sign, then one to fifteen digits, the first not zero.</summary>
internal static class E164
{
    public const int MaxDigits = 15;

    public static bool IsE164(string? value) =>
        value is { Length: >= 2 and <= MaxDigits + 1 }
        && value[0] == '+'
        && value[1] is >= '1' and <= '9'
        && value.AsSpan(1).IndexOfAnyExceptInRange('0', '9') < 0;

    /// <summary>Whether <paramref name="number"/> starts with one of the allowed E.164 prefixes (a full number is its own prefix).</summary>
    public static bool MatchesAnyPrefix(string number, IReadOnlySet<string> prefixes)
    {
        if (prefixes.Contains(number))
        {
            return true;
        }

        foreach (var prefix in prefixes)
        {
            if (number.StartsWith(prefix, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }
}
