using System.Collections.Frozen;

namespace Keybrake.Client.Stripe;

/// <summary>
/// How many decimals Stripe's API uses for each currency's <c>amount</c> (its minor unit). Most currencies
/// have two; these lists are Stripe's documented zero-decimal and three-decimal currencies
/// (https://docs.stripe.com/currencies). ISK, HUF and TWD are two-decimal in the API, as Stripe documents.
/// </summary>
internal static class StripeCurrencies
{
    public static readonly FrozenSet<string> ZeroDecimal = FrozenSet.Create(
        StringComparer.Ordinal,
        "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf");

    public static readonly FrozenSet<string> ThreeDecimal = FrozenSet.Create(
        StringComparer.Ordinal,
        "bhd", "jod", "kwd", "omr", "tnd");

    /// <summary>The number of decimals in the API amount for a lower-case ISO currency code.</summary>
    public static int ExponentOf(string currency) =>
        ZeroDecimal.Contains(currency) ? 0 : ThreeDecimal.Contains(currency) ? 3 : 2;

    /// <summary>Whether the text is a lower-case three-letter code.</summary>
    public static bool IsCurrencyCode(string? text) =>
        text is { Length: 3 } && char.IsAsciiLetterLower(text[0]) && char.IsAsciiLetterLower(text[1]) && char.IsAsciiLetterLower(text[2]);
}
