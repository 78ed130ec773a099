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

    /// <summary><c>transfer_data.destination</c>: the connected account a destination charge pays.</summary>
    public string? TransferDestination { get; private set; }

    /// <summary>A payment intent's <c>latest_charge</c> id, expanded or not.</summary>
    public string? LatestChargeId { get; private set; }

    /// <summary>A payment intent's <c>latest_charge</c> when it was expanded, else <see langword="null"/>.</summary>
    public StripeObject? LatestCharge { get; private set; }

    /// <summary>The connected account the object's money goes to or is made for, if any.</summary>
    public string? ConnectedAccount =>
        TransferDestination
        ?? (Destination is { } destination && destination.StartsWith("acct_", StringComparison.Ordinal) ? destination : null)
        ?? OnBehalfOf;

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
            ReadFields(ref reader, result);
            return result;
        }
        catch (Exception exception) when (exception is JsonException or InvalidOperationException)
        {
            // InvalidOperationException: a string escape that is half a surrogate pair ("\uD800") has no text.
            return null;
        }
    }

    /// <summary>Reads the fields of the object the reader has just entered, up to its end.</summary>
    private static void ReadFields(ref Utf8JsonReader reader, StripeObject result)
    {
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var field = FieldOf(ref reader);
            reader.Read();
            switch (reader.TokenType)
            {
                case JsonTokenType.StartObject when field == Field.LatestCharge:
                    var charge = new StripeObject();
                    ReadFields(ref reader, charge);
                    result.LatestCharge = charge;
                    result.LatestChargeId = charge.Id;
                    break;
                case JsonTokenType.StartObject when field == Field.TransferData:
                    result.TransferDestination = ReadTransferDestination(ref reader);
                    break;
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
    }

    /// <summary>The <c>destination</c> of a <c>transfer_data</c> object: an account id, or an expanded account.</summary>
    private static string? ReadTransferDestination(ref Utf8JsonReader reader)
    {
        string? destination = null;
        var depth = reader.CurrentDepth;
        while (reader.Read() && !(reader.TokenType == JsonTokenType.EndObject && reader.CurrentDepth == depth))
        {
            if (reader.TokenType == JsonTokenType.PropertyName && reader.CurrentDepth == depth + 1 && reader.ValueTextEquals("destination"u8))
            {
                reader.Read();
                destination = reader.TokenType switch
                {
                    JsonTokenType.String => reader.GetString(),
                    JsonTokenType.StartObject => ReadExpandedId(ref reader),
                    _ => null,
                };
            }
            else if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
            {
                reader.Skip();
            }
        }

        return destination;
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

    // A charge has some fifty top-level fields and the guard needs a dozen: match names by length, then bytes,
    // without making a string of any of them.
    private static Field FieldOf(ref Utf8JsonReader reader)
    {
        if (!reader.ValueIsEscaped)
        {
            return Match(reader.ValueSpan);
        }

        Span<byte> unescaped = stackalloc byte[32];
        return reader.ValueSpan.Length <= unescaped.Length ? Match(unescaped[..reader.CopyString(unescaped)]) : Field.Other;
    }

    private static Field Match(ReadOnlySpan<byte> name)
    {
        return name.Length switch
        {
            2 when name.SequenceEqual("id"u8) => Field.Id,
            6 when name.SequenceEqual("amount"u8) => Field.Amount,
            6 when name.SequenceEqual("object"u8) => Field.Object,
            6 when name.SequenceEqual("charge"u8) => Field.Charge,
            8 when name.SequenceEqual("currency"u8) => Field.Currency,
            8 when name.SequenceEqual("customer"u8) => Field.Customer,
            11 when name.SequenceEqual("destination"u8) => Field.Destination,
            11 when name.SequenceEqual("amount_paid"u8) => Field.AmountPaid,
            12 when name.SequenceEqual("on_behalf_of"u8) => Field.OnBehalfOf,
            13 when name.SequenceEqual("latest_charge"u8) => Field.LatestCharge,
            13 when name.SequenceEqual("transfer_data"u8) => Field.TransferData,
            14 when name.SequenceEqual("payment_intent"u8) => Field.PaymentIntent,
            15 when name.SequenceEqual("amount_captured"u8) => Field.AmountCaptured,
            15 when name.SequenceEqual("amount_received"u8) => Field.AmountReceived,
            15 when name.SequenceEqual("amount_refunded"u8) => Field.AmountRefunded,
            15 when name.SequenceEqual("amount_reversed"u8) => Field.AmountReversed,
            _ => Field.Other,
        };
    }

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
            case Field.LatestCharge: LatestChargeId = value; break;
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
        LatestCharge,
        TransferData,
    }
}
