using System.Collections.Frozen;
using System.Globalization;
using System.Text.Json;

namespace Keybrake.Client.Stripe;

/// <summary>
/// What one major unit of each currency is worth in USD, held as whole nano-dollars so conversion never
/// touches floating point. A currency without a rate is denied (<c>unknown_currency</c>), never guessed.
/// </summary>
internal sealed class UsdRateTable
{
    private const long NanosPerMicro = 1_000;
    private static readonly long[] s_powersOfTen = [1, 10, 100, 1_000];

    private readonly FrozenDictionary<string, long> _nanoUsdPerUnit;

    private UsdRateTable(FrozenDictionary<string, long> nanoUsdPerUnit, string source, string asOf)
    {
        _nanoUsdPerUnit = nanoUsdPerUnit;
        Source = source;
        AsOf = asOf;
    }

    /// <summary>Where the default rates come from.</summary>
    public string Source { get; }

    /// <summary>When the default rates were taken.</summary>
    public string AsOf { get; }

    public IReadOnlyCollection<string> Currencies => _nanoUsdPerUnit.Keys;

    /// <summary>The shipped defaults with <paramref name="overrides"/> (currency to USD-per-unit decimal string) on top.</summary>
    public static UsdRateTable Create(IReadOnlyDictionary<string, string>? overrides)
    {
        using var stream = typeof(UsdRateTable).Assembly.GetManifestResourceStream("Keybrake.Client.Stripe.usd-rates.json")
            ?? throw new InvalidOperationException("The embedded USD rate table is missing from Keybrake.Client.Stripe.");
        using var document = JsonDocument.Parse(stream);
        var root = document.RootElement;
        var rates = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var property in root.GetProperty("usdPerUnit").EnumerateObject())
        {
            rates[property.Name] = TryParseRate(property.Value.GetString(), out var nanos)
                ? nanos
                : throw new InvalidOperationException($"The embedded USD rate for '{property.Name}' is not a positive decimal.");
        }

        foreach (var (currency, text) in overrides ?? new Dictionary<string, string>())
        {
            if (!StripeCurrencies.IsCurrencyCode(currency) || !TryParseRate(text, out var nanos))
            {
                throw new ArgumentException($"Keybrake:Stripe:UsdRates:{currency} must be a lower-case ISO code with a positive decimal rate.", nameof(overrides));
            }

            rates[currency] = nanos;
        }

        return new UsdRateTable(
            rates.ToFrozenDictionary(StringComparer.Ordinal),
            root.GetProperty("source").GetString() ?? string.Empty,
            root.GetProperty("asOf").GetString() ?? string.Empty);
    }

    /// <summary>
    /// Converts an API amount (minor units) to USD, rounding up to the next micro-dollar: a reservation
    /// may be a fraction of a cent high, never low. Returns <see langword="false"/> when there is no rate.
    /// </summary>
    public bool TryConvert(long minorUnits, string currency, out Usd usd)
    {
        usd = default;
        if (minorUnits < 0 || !_nanoUsdPerUnit.TryGetValue(currency, out var nanoPerUnit))
        {
            return false;
        }

        Int128 numerator = (Int128)minorUnits * nanoPerUnit;
        Int128 denominator = s_powersOfTen[StripeCurrencies.ExponentOf(currency)] * NanosPerMicro;
        var micros = (numerator + denominator - 1) / denominator;
        if (micros > Usd.MaxValue.Micros)
        {
            return false;
        }

        usd = Usd.FromMicros((long)micros);
        return true;
    }

    /// <summary>Parses a positive decimal such as <c>0.0067</c> (at most nine decimals) into nano-dollars.</summary>
    public static bool TryParseRate(string? text, out long nanos)
    {
        nanos = 0;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        var span = text.AsSpan().Trim();
        var point = span.IndexOf('.');
        var whole = point < 0 ? span : span[..point];
        var fraction = point < 0 ? ReadOnlySpan<char>.Empty : span[(point + 1)..];
        if (whole.IsEmpty || whole.Length > 9 || fraction.Length > 9
            || !long.TryParse(whole, NumberStyles.None, CultureInfo.InvariantCulture, out var units)
            || (!fraction.IsEmpty && !long.TryParse(fraction, NumberStyles.None, CultureInfo.InvariantCulture, out _)))
        {
            return false;
        }

        long fractionNanos = 0;
        for (var i = 0; i < 9; i++)
        {
            fractionNanos = (fractionNanos * 10) + (i < fraction.Length ? fraction[i] - '0' : 0);
        }

        nanos = (units * 1_000_000_000) + fractionNanos;
        return nanos > 0;
    }
}
