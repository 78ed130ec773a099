using System.Collections.Frozen;

namespace Keybrake.Client.Resend;

/// <summary>
/// A <c>recipientDomains</c> allowlist, normalised once: exact domains, compared case-insensitively (and as
/// punycode for internationalised names), and <c>*.example.com</c> entries that allow every subdomain of
/// <c>example.com</c> at any depth but not <c>example.com</c> itself. A plain <c>example.com</c> allows no subdomain.
/// </summary>
internal sealed class DomainAllowlist
{
    private const string WildcardPrefix = "*.";

    private readonly FrozenSet<string> _exact;
    private readonly string[] _suffixes;

    private DomainAllowlist(FrozenSet<string> exact, string[] suffixes)
    {
        _exact = exact;
        _suffixes = suffixes;
    }

    /// <summary>Compiles the policy's entries; an entry that is not a domain is reported, not ignored.</summary>
    public static DomainAllowlist Create(IEnumerable<string> entries, List<string>? errors = null)
    {
        var exact = new HashSet<string>(StringComparer.Ordinal);
        var suffixes = new List<string>();
        foreach (var entry in entries)
        {
            if (!TryParseEntry(entry, out var domain, out var wildcard))
            {
                errors?.Add(entry);
                continue;
            }

            if (wildcard)
            {
                suffixes.Add("." + domain);
            }
            else
            {
                exact.Add(domain);
            }
        }

        return new DomainAllowlist(exact.ToFrozenSet(StringComparer.Ordinal), [.. suffixes]);
    }

    /// <summary>Whether mail to <paramref name="domain"/> (normalised by <see cref="RecipientAddress"/>) is allowed.</summary>
    public bool Allows(string domain)
    {
        if (_exact.Contains(domain))
        {
            return true;
        }

        foreach (var suffix in _suffixes)
        {
            if (domain.Length > suffix.Length && domain.EndsWith(suffix, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    private static bool TryParseEntry(string entry, out string domain, out bool wildcard)
    {
        domain = string.Empty;
        var text = entry.AsSpan().Trim();
        wildcard = text.StartsWith(WildcardPrefix, StringComparison.Ordinal);
        if (wildcard)
        {
            text = text[WildcardPrefix.Length..];
        }

        if (text.IndexOfAny("@*<> ") >= 0 || !RecipientAddress.TryNormalize(text, out var normalized, out _))
        {
            return false;
        }

        domain = normalized;
        return true;
    }
}
