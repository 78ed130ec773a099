using System.Text.Json;

namespace Keybrake.Client.Stripe;

/// <summary>
/// The top-level fields of a Stripe API object that the guard needs: id, type, amounts, currency and the
/// ids it points at. Expanded references (<c>"customer": {"id": ...}</c>) read as their id.
/// </summary>
internal sealed class StripeObject
{
    private readonly Dictionary<string, long> _amounts = new(StringComparer.Ordinal);

    public string? Id { get; private set; }

    public string? Object { get; private set; }

    public string? Currency { get; private set; }

    public string? Customer { get; private set; }

    public string? Charge { get; private set; }

    public string? PaymentIntent { get; private set; }

    public string? Destination { get; private set; }

    public string? OnBehalfOf { get; private set; }

    /// <summary>An integer amount field such as <c>amount</c> or <c>amount_captured</c>, if present.</summary>
    public long? GetAmount(string field) => _amounts.TryGetValue(field, out var value) ? value : null;

    /// <summary>Parses a JSON object; returns <see langword="null"/> when the body is not one.</summary>
    public static StripeObject? Parse(ReadOnlySpan<byte> json)
    {
        try
        {
            var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 64 });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return null;
            }

            var result = new StripeObject();
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var name = reader.GetString()!;
                reader.Read();
                switch (reader.TokenType)
                {
                    case JsonTokenType.Number when name.StartsWith("amount", StringComparison.Ordinal) && reader.TryGetInt64(out var amount):
                        result._amounts[name] = amount;
                        break;
                    case JsonTokenType.String:
                        result.SetString(name, reader.GetString());
                        break;
                    case JsonTokenType.StartObject:
                        result.SetString(name, ReadExpandedId(ref reader));
                        break;
                    case JsonTokenType.StartArray:
                        reader.Skip();
                        break;
                    default:
                        break;
                }
            }

            return result;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string? ReadExpandedId(ref Utf8JsonReader reader)
    {
        string? id = null;
        var depth = reader.CurrentDepth;
        while (reader.Read() && !(reader.TokenType == JsonTokenType.EndObject && reader.CurrentDepth == depth))
        {
            if (reader.TokenType == JsonTokenType.PropertyName && reader.CurrentDepth == depth + 1 && reader.ValueTextEquals("id"u8))
            {
                reader.Read();
                id = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
            }
            else if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
            {
                reader.Skip();
            }
        }

        return id;
    }

    private void SetString(string name, string? value)
    {
        switch (name)
        {
            case "id": Id = value; break;
            case "object": Object = value; break;
            case "currency": Currency = value; break;
            case "customer": Customer = value; break;
            case "charge": Charge = value; break;
            case "payment_intent": PaymentIntent = value; break;
            case "destination": Destination = value; break;
            case "on_behalf_of": OnBehalfOf = value; break;
            default: break;
        }
    }
}
