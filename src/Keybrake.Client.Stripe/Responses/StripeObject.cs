using System.Collections.Frozen;
using System.Text.Json;

namespace Keybrake.Client.Stripe;

/// <summary>
/// The top-level fields of a Stripe API object that the guard needs: id, type, amounts, currency and the
/// ids it points at. Expanded references (<c>"customer": {"id": ...}</c>) read as their id.
/// </summary>
internal sealed class StripeObject
{
    private static readonly FrozenSet<string> s_commonValues = FrozenSet.Create(
        StringComparer.Ordinal,
        "charge", "payment_intent", "refund", "transfer", "transfer_reversal", "payout", "topup", "invoice", "fee_refund",
        "usd", "eur", "gbp", "jpy", "cad", "aud", "chf", "cny", "inr", "mxn", "brl", "sek", "nok", "dkk", "pln", "krw", "sgd", "hkd", "nzd");

    private long? _amount;
    private long? _amountCaptured;
    private long? _amountPaid;
    private long? _amountReceived;
    private long? _amountRefunded;
    private long? _amountReversed;

    public string? Id { get; private set; }

    public string? Object { get; private set; }

    public string? Currency { get; private set; }

    public string? Customer { get; private set; }

    public string? Charge { get; private set; }

    public string? PaymentIntent { get; private set; }

    public string? Destination { get; private set; }

    public string? OnBehalfOf { get; private set; }

    /// <summary>An integer amount field such as <c>amount</c> or <c>amount_captured</c>, if present.</summary>
    public long? GetAmount(string field) => field switch
    {
        "amount" => _amount,
        "amount_captured" => _amountCaptured,
        "amount_paid" => _amountPaid,
        "amount_received" => _amountReceived,
        "amount_refunded" => _amountRefunded,
        "amount_reversed" => _amountReversed,
        _ => null,
    };

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
                var field = FieldOf(ref reader);
                reader.Read();
                switch (reader.TokenType)
                {
                    case JsonTokenType.Number when reader.TryGetInt64(out var amount):
                        result.SetAmount(field, amount);
                        break;
                    case JsonTokenType.String when field != Field.Other:
                        result.SetString(field, reader.GetString());
                        break;
                    case JsonTokenType.StartObject when field != Field.Other:
                        result.SetString(field, ReadExpandedId(ref reader));
                        break;
                    case JsonTokenType.StartObject:
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

    // Matching the property name's bytes avoids a string for each of the object's many other fields.
    private static Field FieldOf(ref Utf8JsonReader reader) =>
        reader.ValueTextEquals("id"u8) ? Field.Id
        : reader.ValueTextEquals("object"u8) ? Field.Object
        : reader.ValueTextEquals("currency"u8) ? Field.Currency
        : reader.ValueTextEquals("customer"u8) ? Field.Customer
        : reader.ValueTextEquals("charge"u8) ? Field.Charge
        : reader.ValueTextEquals("payment_intent"u8) ? Field.PaymentIntent
        : reader.ValueTextEquals("destination"u8) ? Field.Destination
        : reader.ValueTextEquals("on_behalf_of"u8) ? Field.OnBehalfOf
        : reader.ValueTextEquals("amount"u8) ? Field.Amount
        : reader.ValueTextEquals("amount_captured"u8) ? Field.AmountCaptured
        : reader.ValueTextEquals("amount_paid"u8) ? Field.AmountPaid
        : reader.ValueTextEquals("amount_received"u8) ? Field.AmountReceived
        : reader.ValueTextEquals("amount_refunded"u8) ? Field.AmountRefunded
        : reader.ValueTextEquals("amount_reversed"u8) ? Field.AmountReversed
        : Field.Other;

    private void SetAmount(Field field, long value)
    {
        switch (field)
        {
            case Field.Amount: _amount = value; break;
            case Field.AmountCaptured: _amountCaptured = value; break;
            case Field.AmountPaid: _amountPaid = value; break;
            case Field.AmountReceived: _amountReceived = value; break;
            case Field.AmountRefunded: _amountRefunded = value; break;
            case Field.AmountReversed: _amountReversed = value; break;
            default: break;
        }
    }

    private void SetString(Field field, string? value)
    {
        // Currencies and object types repeat on every object the ledger remembers: keep one instance of each.
        if (field is Field.Currency or Field.Object && value is not null && s_commonValues.TryGetValue(value, out var common))
        {
            value = common;
        }

        switch (field)
        {
            case Field.Id: Id = value; break;
            case Field.Object: Object = value; break;
            case Field.Currency: Currency = value; break;
            case Field.Customer: Customer = value; break;
            case Field.Charge: Charge = value; break;
            case Field.PaymentIntent: PaymentIntent = value; break;
            case Field.Destination: Destination = value; break;
            case Field.OnBehalfOf: OnBehalfOf = value; break;
            default: break;
        }
    }

    private enum Field
    {
        Other,
        Id,
        Object,
        Currency,
        Customer,
        Charge,
        PaymentIntent,
        Destination,
        OnBehalfOf,
        Amount,
        AmountCaptured,
        AmountPaid,
        AmountReceived,
        AmountRefunded,
        AmountReversed,
    }
}
