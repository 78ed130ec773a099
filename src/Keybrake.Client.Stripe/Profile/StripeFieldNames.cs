using System.Text;

namespace Keybrake.Client.Stripe;

/// <summary>
/// The form fields the guard reads on money endpoints, and the refusal of every other spelling the API might
/// also take for them: the same name in the query string, in another case, or in array form. The guard reads
/// one spelling; if Stripe read another, the amount or scope the guard checked would not be the one used.
/// </summary>
internal static class StripeFieldNames
{
    /// <summary>Fields the guard reads: each must appear at most once, or the guard would have to guess which the API uses.</summary>
    public static readonly string[] Read =
    [
        "amount", "amount_to_capture", "currency", "customer", "charge", "payment_intent", "confirm",
        "destination", "destination[account]", "on_behalf_of", "transfer_data[destination]",
    ];

    /// <summary>
    /// Why the call is ambiguous, or <see langword="null"/>: a query string field that is (a spelling of) a
    /// field the guard reads, or a body field that spells one differently.
    /// </summary>
    public static string? CheckUnambiguous(Uri uri, FormUrlEncodedBody form, string? flag)
    {
        var query = uri.Query;
        if (query.Length > 1)
        {
            if (!FormUrlEncodedBody.TryParse(Encoding.UTF8.GetBytes(query[1..]), out var fields, out var error))
            {
                return $"the query string of a call that moves money cannot be read: {error}";
            }

            foreach (var (name, _) in fields.Fields)
            {
                if (ReadFieldOf(name, flag) is { } read)
                {
                    return $"the query string carries '{name}', a spelling of '{read}', which the guard reads from the body only";
                }
            }
        }

        foreach (var (name, _) in form.Fields)
        {
            if (ReadFieldOf(name, flag) is { } read && !string.Equals(name, read, StringComparison.Ordinal))
            {
                return $"the form field '{name}' differs from '{read}' only in case or array form, and the guard reads '{read}'";
            }
        }

        return null;
    }

    /// <summary>The read field that <paramref name="name"/> spells, ignoring case and trailing <c>[]</c> or <c>[n]</c>.</summary>
    internal static string? ReadFieldOf(string name, string? flag)
    {
        var stem = WithoutArraySuffix(name.AsSpan());
        foreach (var read in Read)
        {
            if (stem.Equals(read, StringComparison.OrdinalIgnoreCase))
            {
                return read;
            }
        }

        return flag is not null && stem.Equals(flag, StringComparison.OrdinalIgnoreCase) ? flag : null;
    }

    private static ReadOnlySpan<char> WithoutArraySuffix(ReadOnlySpan<char> name)
    {
        while (name.Length > 0 && name[^1] == ']')
        {
            var open = name.LastIndexOf('[');
            if (open < 0 || !IsIndex(name[(open + 1)..^1]))
            {
                break;
            }

            name = name[..open];
        }

        return name.Trim();
    }

    private static bool IsIndex(ReadOnlySpan<char> inside)
    {
        foreach (var c in inside.Trim())
        {
            if (!char.IsAsciiDigit(c))
            {
                return false;
            }
        }

        return true;
    }
}
