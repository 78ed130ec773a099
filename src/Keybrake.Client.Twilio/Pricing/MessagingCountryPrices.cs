using System.Collections.Frozen;
using System.Text.Json;

namespace Keybrake.Client.Twilio;

/// <summary>
/// One country's outbound SMS prices from Twilio's Pricing API v1 (<c>pricing.v1.messaging.messaging_country-instance</c>):
/// for each number type, the highest <c>current_price</c> among the country's carriers (MCC/MNC), in micro-USD.
/// </summary>
internal sealed class MessagingCountryPrices
{
    private readonly FrozenDictionary<string, Usd> _byNumberType;

    private MessagingCountryPrices(Dictionary<string, Usd> byNumberType, Usd highest)
    {
        _byNumberType = byNumberType.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase);
        Highest = highest;
    }

    /// <summary>The dearest outbound SMS of any carrier and number type.</summary>
    public Usd Highest { get; }

    /// <summary>
    /// The rate per segment to reserve: the dearest carrier's for <paramref name="numberType"/> when the country prices
    /// that type, else the dearest of all (a sender of unknown type could be any).
    /// </summary>
    public Usd RateFor(string? numberType) =>
        numberType is not null && _byNumberType.TryGetValue(numberType, out var rate) ? rate : Highest;

    /// <summary>
    /// Reads the response. Fails with a reason (safe to log: no credential is in a price list) when the body is not
    /// the documented shape, prices in a currency other than USD (<paramref name="unit"/> says which), or prices nothing.
    /// Prices may be JSON strings (as Twilio sends them) or numbers (as the schema types them); either is read as an
    /// exact decimal, never through a floating point.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> json, out MessagingCountryPrices? prices, out string? unit, out string problem)
    {
        prices = null;
        unit = null;
        problem = string.Empty;
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json.ToArray());
        }
        catch (JsonException)
        {
            problem = "the answer is not JSON";
            return false;
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                problem = "the answer is not a messaging country";
                return false;
            }

            unit = root.TryGetProperty("price_unit", out var unitElement) && unitElement.ValueKind == JsonValueKind.String ? unitElement.GetString() : null;
            if (!string.Equals(unit, "USD", StringComparison.OrdinalIgnoreCase))
            {
                problem = $"its prices are in {Shown(unit)}, not USD";
                return false;
            }

            if (!root.TryGetProperty("outbound_sms_prices", out var carriers) || carriers.ValueKind != JsonValueKind.Array)
            {
                problem = "it lists no outbound_sms_prices";
                return false;
            }

            var byType = new Dictionary<string, Usd>(StringComparer.OrdinalIgnoreCase);
            var highest = Usd.Zero;
            foreach (var carrier in carriers.EnumerateArray())
            {
                if (carrier.ValueKind != JsonValueKind.Object || !carrier.TryGetProperty("prices", out var list) || list.ValueKind != JsonValueKind.Array)
                {
                    continue;
                }

                foreach (var price in list.EnumerateArray())
                {
                    if (price.ValueKind != JsonValueKind.Object || !TryReadPrice(price, out var rate))
                    {
                        problem = "a carrier's current_price is not a USD amount";
                        return false;
                    }

                    var type = price.TryGetProperty("number_type", out var typeElement) && typeElement.ValueKind == JsonValueKind.String ? typeElement.GetString() ?? string.Empty : string.Empty;
                    if (!byType.TryGetValue(type, out var known) || rate > known)
                    {
                        byType[type] = rate;
                    }

                    if (rate > highest)
                    {
                        highest = rate;
                    }
                }
            }

            if (highest == Usd.Zero)
            {
                problem = "it prices no outbound SMS";
                return false;
            }

            prices = new MessagingCountryPrices(byType, highest);
            return true;
        }
    }

    private static bool TryReadPrice(JsonElement price, out Usd rate)
    {
        rate = Usd.Zero;
        if (!price.TryGetProperty("current_price", out var current))
        {
            return false;
        }

        var text = current.ValueKind switch
        {
            JsonValueKind.String => current.GetString(),
            JsonValueKind.Number => current.GetRawText(), // the literal digits: no double in between
            _ => null,
        };

        // The same exact reading as a message's price: decimal digits to micro-USD, rounded up past the sixth.
        return text is not null && !text.Contains('e', StringComparison.OrdinalIgnoreCase) && TwilioPrice.TryToUsd(text, "USD", out rate);
    }

    private static string Shown(string? unit) =>
        unit is null ? "no stated currency" : unit.Length <= 8 ? $"'{unit}'" : $"'{unit[..8]}...'";
}
