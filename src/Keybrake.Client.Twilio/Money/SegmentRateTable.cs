using System.Collections.Frozen;
using System.Text.Json;

namespace Keybrake.Client.Twilio;

/// <summary>
/// Which country a number dials (longest E.164 prefix) and what Twilio charges there: USD per SMS segment and
/// per MMS. Shipped as data (<c>segment-rates.json</c>, with its source and date), overridden by configuration.
/// </summary>
internal sealed class SegmentRateTable
{
    private readonly FrozenDictionary<string, string> _countryByPrefix;
    private readonly FrozenDictionary<string, Usd> _sms;
    private readonly FrozenDictionary<string, Usd> _mms;
    private readonly int _longestPrefix;

    private SegmentRateTable(Dictionary<string, string> countryByPrefix, Dictionary<string, Usd> sms, Dictionary<string, Usd> mms, string source, string asOf)
    {
        _countryByPrefix = countryByPrefix.ToFrozenDictionary(StringComparer.Ordinal);
        _sms = sms.ToFrozenDictionary(StringComparer.Ordinal);
        _mms = mms.ToFrozenDictionary(StringComparer.Ordinal);
        _longestPrefix = countryByPrefix.Keys.Max(prefix => prefix.Length);
        Source = source;
        AsOf = asOf;
    }

    /// <summary>Where the shipped rates come from.</summary>
    public string Source { get; }

    /// <summary>When the shipped rates were compiled.</summary>
    public string AsOf { get; }

    /// <summary>The shipped table with configured SMS and MMS rates (ISO country to USD decimal) on top.</summary>
    public static SegmentRateTable Create(IReadOnlyDictionary<string, string>? smsOverrides, IReadOnlyDictionary<string, string>? mmsOverrides)
    {
        using var stream = typeof(SegmentRateTable).Assembly.GetManifestResourceStream("Keybrake.Client.Twilio.segment-rates.json")
            ?? throw new InvalidOperationException("The embedded segment rate table is missing from Keybrake.Client.Twilio.");
        using var document = JsonDocument.Parse(stream);
        var root = document.RootElement;
        var countryByPrefix = new Dictionary<string, string>(StringComparer.Ordinal);
        var sms = new Dictionary<string, Usd>(StringComparer.Ordinal);
        var mms = new Dictionary<string, Usd>(StringComparer.Ordinal);
        foreach (var country in root.GetProperty("countries").EnumerateObject())
        {
            foreach (var prefix in country.Value.GetProperty("prefixes").EnumerateArray())
            {
                countryByPrefix[prefix.GetString()!] = country.Name;
            }

            Read(country, "sms", sms);
            Read(country, "mms", mms);
        }

        Apply(smsOverrides, sms, "SegmentRates");
        Apply(mmsOverrides, mms, "MmsRates");
        return new SegmentRateTable(
            countryByPrefix,
            sms,
            mms,
            root.GetProperty("source").GetString() ?? string.Empty,
            root.GetProperty("asOf").GetString() ?? string.Empty);
    }

    /// <summary>Whether <paramref name="country"/> is an upper-case ISO 3166-1 alpha-2 code.</summary>
    public static bool IsCountryCode(string? country) =>
        country is { Length: 2 } && char.IsAsciiLetterUpper(country[0]) && char.IsAsciiLetterUpper(country[1]);

    /// <summary>Parses a configured rate: a positive USD decimal with at most six decimals.</summary>
    public static bool TryParseRate(string? text, out Usd rate) => Usd.TryParse(text, out rate) && rate > Usd.Zero;

    /// <summary>The country an E.164 number dials, by its longest known prefix; <see langword="null"/> when none is known.</summary>
    public string? CountryOf(string e164)
    {
        var digits = e164.AsSpan(1);
        var lookup = _countryByPrefix.GetAlternateLookup<ReadOnlySpan<char>>();
        for (var length = Math.Min(_longestPrefix, digits.Length); length > 0; length--)
        {
            if (lookup.TryGetValue(digits[..length], out var country))
            {
                return country;
            }
        }

        return null;
    }

    public bool TryGetSmsRate(string country, out Usd rate) => _sms.TryGetValue(country, out rate);

    public bool TryGetMmsRate(string country, out Usd rate) => _mms.TryGetValue(country, out rate);

    private static void Read(JsonProperty country, string name, Dictionary<string, Usd> rates)
    {
        if (country.Value.TryGetProperty(name, out var value))
        {
            rates[country.Name] = TryParseRate(value.GetString(), out var rate)
                ? rate
                : throw new InvalidOperationException($"The embedded {name} rate for '{country.Name}' is not a positive USD amount.");
        }
    }

    private static void Apply(IReadOnlyDictionary<string, string>? overrides, Dictionary<string, Usd> rates, string section)
    {
        foreach (var (country, text) in overrides ?? new Dictionary<string, string>())
        {
            if (!IsCountryCode(country) || !TryParseRate(text, out var rate))
            {
                throw new ArgumentException($"Keybrake:Twilio:{section}:{country} must be an upper-case ISO country code with a positive USD rate.", nameof(overrides));
            }

            rates[country] = rate;
        }
    }
}
