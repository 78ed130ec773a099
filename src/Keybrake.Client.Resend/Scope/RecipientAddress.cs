using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;

namespace Keybrake.Client.Resend;

/// <summary>
/// Reads the domain of one recipient as Resend takes it: <c>jane@example.com</c> or <c>Jane Doe &lt;jane@example.com&gt;</c>.
/// Strict on purpose: a string that could hold two addresses, or a display name with an <c>@</c>, is refused
/// rather than guessed at, because the guard must check the address Resend will actually send to.
/// </summary>
internal static class RecipientAddress
{
    /// <summary>What an address (the part inside any angle brackets) may not contain: it would mean more than one address.</summary>
    private static readonly SearchValues<char> s_notInAddress = SearchValues.Create(" \t\r\n,;\"<>");

    /// <summary>The recipient's domain in ASCII (punycode), lower case, without a trailing dot.</summary>
    public static bool TryGetDomain(string recipient, [NotNullWhen(true)] out string? domain, [NotNullWhen(false)] out string? problem)
    {
        domain = null;
        var text = recipient.AsSpan().Trim();
        var address = text;
        var open = text.IndexOf('<');
        if (open >= 0)
        {
            // "Display Name <address>": one pair of angle brackets, closing the string.
            if (text[^1] != '>' || text.LastIndexOf('<') != open || text.IndexOf('>') != text.Length - 1)
            {
                problem = "is not one address in the form \"Name <local@domain>\"";
                return false;
            }

            address = text[(open + 1)..^1];
        }
        else if (text.Contains('>'))
        {
            problem = "is not one email address";
            return false;
        }

        if (text.Count('@') != 1)
        {
            problem = "is not one email address (it must hold exactly one '@')";
            return false;
        }

        var at = address.IndexOf('@');
        if (at <= 0 || at == address.Length - 1 || address.IndexOfAny(s_notInAddress) >= 0)
        {
            problem = "is not one email address";
            return false;
        }

        return TryNormalize(address[(at + 1)..], out domain, out problem);
    }

    /// <summary>Normalises a domain: ASCII (punycode) for internationalised names, lower case, no trailing dot.</summary>
    public static bool TryNormalize(ReadOnlySpan<char> name, [NotNullWhen(true)] out string? domain, [NotNullWhen(false)] out string? problem)
    {
        domain = null;
        problem = null;
        if (name.EndsWith("."))
        {
            name = name[..^1];
        }

        if (name.IsEmpty || name.Length > 253)
        {
            problem = "has no valid domain";
            return false;
        }

        string ascii;
        if (Ascii.IsValid(name))
        {
            ascii = name.ToString().ToLowerInvariant();
        }
        else
        {
            try
            {
                // Internationalised names compare as punycode, whichever form the agent or the policy wrote.
                ascii = new IdnMapping { UseStd3AsciiRules = true }.GetAscii(name.ToString()).ToLowerInvariant();
            }
            catch (ArgumentException)
            {
                problem = "has no valid domain";
                return false;
            }
        }

        if (!IsHostName(ascii))
        {
            problem = "has no valid domain";
            return false;
        }

        domain = ascii;
        return true;
    }

    /// <summary>Letters, digits and hyphens in dot-separated labels of 1 to 63 characters, no hyphen at either end.</summary>
    private static bool IsHostName(string domain)
    {
        foreach (var range in domain.AsSpan().Split('.'))
        {
            var label = domain.AsSpan()[range];
            if (label.IsEmpty || label.Length > 63 || label[0] == '-' || label[^1] == '-')
            {
                return false;
            }

            foreach (var c in label)
            {
                if (!char.IsAsciiLetterOrDigit(c) && c != '-')
                {
                    return false;
                }
            }
        }

        return true;
    }
}
