namespace Keybrake.Client.Stripe;

/// <summary>
/// Every Stripe v1 endpoint Keybrake counts as moving money, in one place. A POST to anything else costs
/// nothing (it is still subject to endpoint rules, allowlists and the loop breaker). To block an endpoint
/// outright, use an endpoint rule.
/// </summary>
internal static class StripeEndpointCatalog
{
    public static IReadOnlyList<StripeEndpoint> All { get; } =
    [
        // Charges take money from a customer.
        new() { Pattern = "/v1/charges", Template = "/v1/charges", AmountField = "amount", AmountRequired = true, CustomerScoped = true, RemembersResponse = true },
        new() { Pattern = "/v1/charges/*/capture", Template = "/v1/charges/{id}/capture", AmountField = "amount", LooksUp = true, Reference = StripeObjectReference.PathId, SettleField = "amount_captured", CustomerScoped = true, RemembersResponse = true },

        // Payment intents move money when confirmed (at creation or later) and when captured.
        new() { Pattern = "/v1/payment_intents", Template = "/v1/payment_intents", AmountField = "amount", AmountRequired = true, OnlyWhenTrue = "confirm", CustomerScoped = true, RemembersResponse = true },
        new() { Pattern = "/v1/payment_intents/*/confirm", Template = "/v1/payment_intents/{id}/confirm", LooksUp = true, Reference = StripeObjectReference.PathId, CustomerScoped = true, RemembersResponse = true },
        new() { Pattern = "/v1/payment_intents/*/capture", Template = "/v1/payment_intents/{id}/capture", AmountField = "amount_to_capture", LooksUp = true, Reference = StripeObjectReference.PathId, SettleField = "amount_received", CustomerScoped = true, RemembersResponse = true },

        // Refunds give money back; without an amount they refund the rest of the charge.
        new() { Pattern = "/v1/refunds", Template = "/v1/refunds", AmountField = "amount", LooksUp = true, Reference = StripeObjectReference.ChargeOrPaymentIntentField, AmountDefaultsToRemainder = true, CustomerScoped = true, ReturnsMoneyOnReference = true },
        new() { Pattern = "/v1/charges/*/refunds", Template = "/v1/charges/{id}/refunds", AmountField = "amount", LooksUp = true, Reference = StripeObjectReference.PathId, AmountDefaultsToRemainder = true, CustomerScoped = true, ReturnsMoneyOnReference = true },
        new() { Pattern = "/v1/charges/*/refund", Template = "/v1/charges/{id}/refund", AmountField = "amount", LooksUp = true, Reference = StripeObjectReference.PathId, AmountDefaultsToRemainder = true, CustomerScoped = true, ReturnsMoneyOnReference = true, SettleField = null },
        new() { Pattern = "/v1/application_fees/*/refunds", Template = "/v1/application_fees/{id}/refunds", AmountField = "amount", Reference = StripeObjectReference.PathId, AmountDefaultsToRemainder = true },
        new() { Pattern = "/v1/application_fees/*/refund", Template = "/v1/application_fees/{id}/refund", AmountField = "amount", Reference = StripeObjectReference.PathId, AmountDefaultsToRemainder = true, SettleField = null },

        // Money out of the Stripe balance: payouts to a bank, transfers to connected accounts, and back.
        new() { Pattern = "/v1/payouts", Template = "/v1/payouts", AmountField = "amount", AmountRequired = true },
        new() { Pattern = "/v1/transfers", Template = "/v1/transfers", AmountField = "amount", AmountRequired = true, RemembersResponse = true },
        new() { Pattern = "/v1/transfers/*/reversals", Template = "/v1/transfers/{id}/reversals", AmountField = "amount", Reference = StripeObjectReference.PathId, AmountDefaultsToRemainder = true, ReturnsMoneyOnReference = true },
        new() { Pattern = "/v1/topups", Template = "/v1/topups", AmountField = "amount", AmountRequired = true },

        // Paying an invoice charges its customer an amount only Stripe knows: the per-request maximum stands in.
        new() { Pattern = "/v1/invoices/*/pay", Template = "/v1/invoices/{id}/pay", Reference = StripeObjectReference.PathId, SettleField = "amount_paid" },

        // Treasury money movement.
        new() { Pattern = "/v1/treasury/outbound_payments", Template = "/v1/treasury/outbound_payments", AmountField = "amount", AmountRequired = true },
        new() { Pattern = "/v1/treasury/outbound_transfers", Template = "/v1/treasury/outbound_transfers", AmountField = "amount", AmountRequired = true },
    ];

    /// <summary>The endpoint a POST to these segments hits, or <see langword="null"/> when it moves no money.</summary>
    public static StripeEndpoint? Find(string method, IReadOnlyList<string> pathSegments)
    {
        if (method != "POST" || pathSegments.Count < 2 || pathSegments[0] != "v1")
        {
            return null;
        }

        foreach (var endpoint in All)
        {
            if (endpoint.Matches(pathSegments))
            {
                return endpoint;
            }
        }

        return null;
    }

    /// <summary>
    /// An audit template for any Stripe path: segments that look like ids (they carry digits or capitals,
    /// resource names never do) become <c>{id}</c>.
    /// </summary>
    public static string TemplateOf(IReadOnlyList<string> pathSegments)
    {
        const string Placeholder = "{id}";
        var length = 0;
        for (var i = 0; i < pathSegments.Count; i++)
        {
            length += 1 + (i > 0 && LooksLikeId(pathSegments[i]) ? Placeholder.Length : pathSegments[i].Length);
        }

        return length == 0 ? "/" : string.Create(length, pathSegments, static (span, segments) =>
        {
            for (var i = 0; i < segments.Count; i++)
            {
                span[0] = '/';
                var part = i > 0 && LooksLikeId(segments[i]) ? Placeholder : segments[i];
                part.CopyTo(span[1..]);
                span = span[(1 + part.Length)..];
            }
        });
    }

    private static bool LooksLikeId(string segment)
    {
        foreach (var c in segment)
        {
            if (char.IsAsciiDigit(c) || char.IsAsciiLetterUpper(c))
            {
                return true;
            }
        }

        return false;
    }
}
