using System.Text.Json;

namespace Keybrake.Client.Twilio;

/// <summary>
/// What the guard reads of a Twilio message or call resource (the <c>api.v2010.account.message</c> shape): its
/// SID, its price (a negative decimal string, null until Twilio has priced it), the price's currency and the status.
/// </summary>
internal readonly record struct TwilioResource(string Sid, string? Price, string? PriceUnit, string? Status)
{
    /// <summary>Statuses that mean the message or call never went out, so Twilio charges nothing for it.</summary>
    public bool IsUnbilledFinal => Status is "failed" or "canceled" or "busy" or "no-answer";

    /// <summary>
    /// Reads one resource, or the <c>messages</c> / <c>calls</c> array of a list page. Returns
    /// <see langword="false"/> when the body is not JSON the guard can read; resources without a SID are skipped.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> json, List<TwilioResource> resources)
    {
        var reader = new Utf8JsonReader(json);
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }

            ReadObject(ref reader, resources, topLevel: true);
            return true;
        }
        catch (Exception exception) when (exception is JsonException or InvalidOperationException)
        {
            // InvalidOperationException: a string escape that is half a surrogate pair ("\uD800") has no text.
            return false;
        }
    }

    /// <summary>Reads an object whose start the reader is on, through its end.</summary>
    private static void ReadObject(ref Utf8JsonReader reader, List<TwilioResource> resources, bool topLevel)
    {
        string? sid = null, price = null, priceUnit = null, status = null;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("sid"u8))
            {
                sid = ReadString(ref reader);
            }
            else if (reader.ValueTextEquals("price"u8))
            {
                price = ReadString(ref reader);
            }
            else if (reader.ValueTextEquals("price_unit"u8))
            {
                priceUnit = ReadString(ref reader);
            }
            else if (reader.ValueTextEquals("status"u8))
            {
                status = ReadString(ref reader);
            }
            else if (topLevel && (reader.ValueTextEquals("messages"u8) || reader.ValueTextEquals("calls"u8)))
            {
                reader.Read();
                if (reader.TokenType == JsonTokenType.StartArray)
                {
                    while (reader.Read() && reader.TokenType == JsonTokenType.StartObject)
                    {
                        ReadObject(ref reader, resources, topLevel: false);
                    }
                }
                else
                {
                    reader.Skip();
                }
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }

        if (sid is not null)
        {
            resources.Add(new TwilioResource(sid, price, priceUnit, status));
        }
    }

    private static string? ReadString(ref Utf8JsonReader reader)
    {
        reader.Read();
        switch (reader.TokenType)
        {
            case JsonTokenType.String:
                return reader.GetString();
            case JsonTokenType.Number:
                // Twilio writes prices as strings; a number is read as written, never through floating point.
                return System.Text.Encoding.UTF8.GetString(reader.ValueSpan);
            case JsonTokenType.StartObject or JsonTokenType.StartArray:
                reader.Skip();
                return null;
            default:
                return null;
        }
    }
}
