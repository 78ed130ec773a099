using System.Collections.Frozen;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using Microsoft.Extensions.Options;

namespace Keybrake.Client.Stripe;

/// <summary>
/// Stripe as the guard sees it: the brake key rides in <c>Authorization: Bearer</c>; v1 bodies are
/// form-encoded; money-moving endpoints are in <see cref="StripeEndpointCatalog"/>; amounts are converted to
/// USD with the currency's real exponent; denials look like Stripe errors.
/// </summary>
internal sealed class StripeVendorProfile : VendorProfile
{
    public const string VendorName = "stripe";
    private const string FormMediaType = "application/x-www-form-urlencoded";
    private const int MaxAmountDigits = 15;

    /// <summary>Fields safe to keep in audit records: amounts, currencies, ids and enums. Everything else is redacted.</summary>
    private static readonly FrozenSet<string> s_auditedFields = FrozenSet.Create(
        StringComparer.Ordinal,
        "amount", "amount_to_capture", "application_fee_amount", "capture", "charge", "confirm", "currency", "customer",
        "destination", "destination[account]", "method", "off_session", "on_behalf_of", "payment_intent", "payment_method",
        "reason", "refund_application_fee", "reverse_transfer", "source_type", "transfer_data[amount]",
        "transfer_data[destination]", "transfer_group");

    private readonly UsdRateTable _rates;
    private readonly StripeObjectLookup _lookups = new();

    public StripeVendorProfile(IOptions<KeybrakeStripeOptions> options)
        : base(VendorName)
    {
        _rates = UsdRateTable.Create(options.Value.UsdRates.AsReadOnly());
    }

    public override IReadOnlyCollection<string> ScopeNames => StripeScope.Names;

    /// <summary>
    /// The hosts Stripe.net sends the secret key to: the API, file uploads, Connect OAuth, and the v2 meter
    /// event stream (<c>MeterEventsBase</c> in Stripe.net 53).
    /// </summary>
    public override IReadOnlyCollection<string> SecretHosts { get; } =
        ["api.stripe.com", "files.stripe.com", "connect.stripe.com", "meter-events.stripe.com"];

    internal UsdRateTable Rates => _rates;

    public override string? ReadBrakeKey(HttpRequestMessage request)
    {
        var authorization = request.Headers.Authorization;
        if (authorization?.Parameter is not { Length: > 0 } parameter)
        {
            return null;
        }

        if (string.Equals(authorization.Scheme, "Bearer", StringComparison.OrdinalIgnoreCase))
        {
            return parameter;
        }

        // Stripe also accepts the key as the Basic user name with an empty password.
        if (string.Equals(authorization.Scheme, "Basic", StringComparison.OrdinalIgnoreCase))
        {
            try
            {
                var decoded = Encoding.UTF8.GetString(Convert.FromBase64String(parameter));
                var colon = decoded.IndexOf(':', StringComparison.Ordinal);
                return colon < 0 ? decoded : decoded[..colon];
            }
            catch (FormatException)
            {
                return null;
            }
        }

        return null;
    }

    public override void ApplyVendorSecret(HttpRequestMessage request, string vendorSecret) =>
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", vendorSecret);

    public override void DescribeEndpoint(VendorCall vendorCall)
    {
        var endpoint = StripeEndpointCatalog.Find(vendorCall.Method, vendorCall.PathSegments);
        if (endpoint is null)
        {
            vendorCall.EndpointTemplate = StripeEndpointCatalog.TemplateOf(vendorCall.PathSegments);
            return;
        }

        vendorCall.EndpointTemplate = endpoint.Template;
        vendorCall.IsCostBearing = endpoint.OnlyWhenTrue is null;
        vendorCall.VendorState = new StripeCallState(endpoint);
    }

    public override async ValueTask<GuardDenial?> InspectRequestAsync(VendorCall vendorCall, CancellationToken cancellationToken)
    {
        var state = vendorCall.VendorState as StripeCallState;
        var endpoint = state?.Endpoint;
        vendorCall.IdempotencyKey = SingleHeader(vendorCall.Request, "Idempotency-Key");
        if (SingleHeader(vendorCall.Request, "Stripe-Account") is { } account)
        {
            vendorCall.AddAuditParameter("stripe_account", account);
        }

        if (ReadForm(vendorCall, endpoint, out var form) is { } formDenial)
        {
            return formDenial;
        }

        if (endpoint is not null && StripeFieldNames.CheckUnambiguous(vendorCall.Request.RequestUri!, form, endpoint.OnlyWhenTrue) is { } ambiguous)
        {
            return Malformed(ambiguous);
        }

        foreach (var field in StripeFieldNames.Read)
        {
            if (!form.TryGetSingle(field, out _))
            {
                return Malformed($"the form field '{field}' is sent more than once, so the amount or scope it sets is ambiguous");
            }
        }

        if (vendorCall.RecordsAuditParameters)
        {
            foreach (var (name, value) in form.Fields)
            {
                vendorCall.AddAuditParameter(name, s_auditedFields.Contains(name) ? value : VendorCall.RedactedValue);
            }
        }

        if (endpoint?.OnlyWhenTrue is { } flag)
        {
            form.TryGetSingle(flag, out var flagValue);
            vendorCall.IsCostBearing = string.Equals(flagValue, "true", StringComparison.Ordinal);
        }

        if (state is not null)
        {
            (state.ReferenceId, state.ReferenceKind) = ReferenceOf(vendorCall, endpoint!, form);
            state.Reference = state.ReferenceId is null
                ? null
                : await vendorCall.FindObjectAsync(state.ReferenceId, cancellationToken).ConfigureAwait(false);
            if (await LookUpAsync(vendorCall, state, form, cancellationToken).ConfigureAwait(false) is { } lookupDenial)
            {
                return lookupDenial;
            }
        }

        var scopeDenial = StripeScope.CheckAccounts(vendorCall, form, state?.ReferenceId, state?.Reference)
            ?? StripeScope.CheckCustomer(vendorCall, form, endpoint, state?.ReferenceId, state?.Reference);
        if (scopeDenial is not null)
        {
            return scopeDenial;
        }

        return vendorCall.IsCostBearing ? Estimate(vendorCall, state!, form) : null;
    }

    public override async ValueTask<VendorSettlement> InspectResponseAsync(VendorCall vendorCall, HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var status = (int)response.StatusCode;
        if (status == 409 || status >= 500)
        {
            return VendorSettlement.Hold; // Stripe may have acted; a retry with the same Idempotency-Key will tell
        }

        if (status is < 200 or > 299 || vendorCall.VendorState is not StripeCallState state)
        {
            return VendorSettlement.Release; // Stripe refused the call (or it moved no money)
        }

        var body = await vendorCall.ReadResponseBodyAsync(response, cancellationToken).ConfigureAwait(false);
        var result = body is { } json ? StripeObject.Parse(json.Span) : null;
        if (result is null)
        {
            throw new InvalidDataException("The Stripe response is not a JSON object the guard can read.");
        }

        var endpoint = state.Endpoint;
        var settledMinor = endpoint.SettleField is null ? null : result.GetAmount(endpoint.SettleField) ?? result.GetAmount("amount");
        var currency = result.Currency;
        Remember(vendorCall, state, result, settledMinor, currency);
        await RememberRefundedChargeAsync(vendorCall, state, result, settledMinor, currency, cancellationToken).ConfigureAwait(false);

        if (!vendorCall.IsCostBearing || endpoint.SettleField is null)
        {
            return VendorSettlement.Commit(vendorCall.Estimate);
        }

        return settledMinor is { } minor && currency is not null && _rates.TryConvert(minor, currency, out var actual)
            ? VendorSettlement.Commit(actual)
            : VendorSettlement.Commit(vendorCall.Estimate);
    }

    public override HttpResponseMessage CreateDenialResponse(VendorCall vendorCall, GuardDenial denial) =>
        StripeDenialResponse.Create(denial);

    private static GuardDenial? ReadForm(VendorCall vendorCall, StripeEndpoint? endpoint, out FormUrlEncodedBody form)
    {
        form = FormUrlEncodedBody.Empty;
        if (vendorCall.Body.IsEmpty)
        {
            return null;
        }

        if (!string.Equals(vendorCall.MediaType, FormMediaType, StringComparison.OrdinalIgnoreCase))
        {
            // Other bodies (file uploads, the v2 JSON API) go to endpoints that move no money; for one that
            // does, a body the guard cannot read is a body it cannot check.
            return endpoint is null
                ? null
                : Malformed($"Stripe's v1 API takes {FormMediaType} bodies, and this call sent '{vendorCall.MediaType ?? "no content type"}'");
        }

        if (!FormUrlEncodedBody.TryParse(vendorCall.Body.Span, out var parsed, out var error))
        {
            return Malformed(error);
        }

        form = parsed;
        return null;
    }

    private static (string? Id, string? Kind) ReferenceOf(VendorCall vendorCall, StripeEndpoint endpoint, FormUrlEncodedBody form)
    {
        switch (endpoint.Reference)
        {
            case StripeObjectReference.PathId:
                var kind = vendorCall.PathSegments[1] switch
                {
                    "charges" => StripeObjectLookup.Charge,
                    "payment_intents" => StripeObjectLookup.PaymentIntent,
                    _ => null,
                };
                return (vendorCall.PathSegments[2], kind);
            case StripeObjectReference.ChargeOrPaymentIntentField:
                form.TryGetSingle("charge", out var charge);
                form.TryGetSingle("payment_intent", out var paymentIntent);
                return charge is not null ? (charge, StripeObjectLookup.Charge)
                    : paymentIntent is not null ? (paymentIntent, StripeObjectLookup.PaymentIntent)
                    : (null, null);
            default:
                return (null, null);
        }
    }

    /// <summary>
    /// Looks the call's charge or payment intent up at Stripe when the guard has not seen it and the decision needs
    /// it: for its amount or currency, or for the customer or connected account an allowlist must check. Returns
    /// the denial when the lookup failed and the key's policy does not allow the fallback.
    /// </summary>
    private async ValueTask<GuardDenial?> LookUpAsync(VendorCall vendorCall, StripeCallState state, FormUrlEncodedBody form, CancellationToken cancellationToken)
    {
        var endpoint = state.Endpoint;
        if (state.Reference is not null || state.ReferenceId is not { } id || state.ReferenceKind is not { } kind || !endpoint.LooksUp)
        {
            return null;
        }

        var allowlist = endpoint.CustomerScoped && vendorCall.GetAllowlist(StripeScope.Customers) is not null ? StripeScope.Customers
            : vendorCall.GetAllowlist(StripeScope.Accounts) is not null ? StripeScope.Accounts
            : null;
        var costUnknown = vendorCall.IsCostBearing
            && (endpoint.AmountField is not { } amountField || !form.TryGetSingle(amountField, out var amount) || amount is null
                || !form.TryGetSingle("currency", out var currency) || currency is null);
        if (allowlist is null && !costUnknown)
        {
            return null; // the body says all the decision needs: no round trip to Stripe
        }

        var outcome = await _lookups.FindAsync(vendorCall, id, kind, cancellationToken).ConfigureAwait(false);
        state.Reference = outcome.Object;
        if (outcome.Failure is not { } failure)
        {
            return null;
        }

        state.LookupFailure = failure;
        if (vendorCall.UnknownObjects == UnknownObjectBehavior.Deny)
        {
            return new GuardDenial(ReasonCodes.ObjectLookupFailed, allowlist is null
                ? $"{failure}; to reserve the policy's PerRequestMax instead when an object cannot be looked up, set UnknownObjects to ReservePerRequestMax (with a PerRequestMax) in the policy of key '{vendorCall.KeyId}'"
                : $"{failure}, so the key's {allowlist} allowlist cannot be checked");
        }

        // The per-request maximum can stand in for a cost, never for whose money it is.
        return allowlist is null
            ? null
            : new GuardDenial(
                allowlist == StripeScope.Customers ? ReasonCodes.CustomerNotAllowed : ReasonCodes.AccountNotAllowed,
                $"{failure}, so the key's {allowlist} allowlist cannot be checked (UnknownObjects=ReservePerRequestMax reserves a cost, it cannot vouch for an owner)");
    }

    private GuardDenial? Estimate(VendorCall vendorCall, StripeCallState state, FormUrlEncodedBody form)
    {
        var endpoint = state.Endpoint;
        long? amount = null;
        if (endpoint.AmountField is { } amountField && form.TryGetSingle(amountField, out var amountText) && amountText is not null)
        {
            if (!TryParseAmount(amountText, out var parsed))
            {
                return Malformed($"'{amountField}' must be a whole, non-negative number of the currency's smallest unit (at most {MaxAmountDigits} digits)");
            }

            amount = parsed;
        }

        if (amount is null && endpoint.AmountRequired)
        {
            return Malformed($"{endpoint.Template} moves money and needs '{endpoint.AmountField}'");
        }

        form.TryGetSingle("currency", out var currency);
        currency = currency?.ToLowerInvariant();
        if (currency is not null && !StripeCurrencies.IsCurrencyCode(currency))
        {
            return new GuardDenial(ReasonCodes.UnknownCurrency, $"'{currency}' is not a three-letter currency code");
        }

        if (currency is null && endpoint.AmountRequired)
        {
            return Malformed($"{endpoint.Template} moves money and needs 'currency'");
        }

        var reference = state.Reference;
        if (amount is null && reference is { Currency: not null })
        {
            amount = endpoint.AmountDefaultsToRemainder ? Math.Max(0, reference.Amount - reference.AmountReturned) : reference.Amount;
            currency = reference.Currency;
        }
        else if (currency is null && reference is { Currency: not null })
        {
            currency = reference.Currency;
        }

        if (amount is null || currency is null)
        {
            // The cost cannot be known in advance: the policy's per-request maximum stands in, or the call is denied.
            if (vendorCall.PerRequestMax is { } max)
            {
                vendorCall.Estimate = max;
                return null;
            }

            // Without an amount or a currency the cost is unknowable: amount_over_request_limit, as for a cost over
            // the maximum (unknown_currency is for a currency Keybrake has no rate for).
            var what = state.LookupFailure ?? (state.ReferenceId is { } id ? $"'{id}' did not go through Keybrake" : "the body does not say");
            var missing = amount is null ? "amount" : "currency";
            return new GuardDenial(ReasonCodes.AmountOverRequestLimit, $"the {missing} of this call cannot be known in advance ({what}); set PerRequestMax on the key's policy to allow such calls");
        }

        if (!_rates.TryConvert(amount.Value, currency, out var usd))
        {
            return _rates.Currencies.Contains(currency)
                ? Malformed($"the amount {amount} {currency} is out of range")
                : new GuardDenial(ReasonCodes.UnknownCurrency, $"Keybrake has no USD rate for '{currency}', so it cannot count this call against the cap; add one under Keybrake:Stripe:UsdRates");
        }

        vendorCall.Estimate = usd;
        return null;
    }

    private static void Remember(VendorCall vendorCall, StripeCallState state, StripeObject result, long? settledMinor, string? currency)
    {
        var endpoint = state.Endpoint;
        if (endpoint.RemembersResponse && result.Id is { } id)
        {
            vendorCall.Remember(new VendorObject(id, result.Object ?? "unknown")
            {
                Customer = result.Customer,
                Account = result.ConnectedAccount,
                Currency = currency,
                Amount = result.GetAmount("amount") ?? 0,
                AmountReturned = result.GetAmount("amount_refunded") ?? result.GetAmount("amount_reversed") ?? 0,
            });
        }

        // A refund or reversal gives money back on the object it names: the next "refund the rest" is smaller.
        if (endpoint.ReturnsMoneyOnReference && state.Reference is { } reference && endpoint.SettleField is not null
            && settledMinor is { } returned && string.Equals(reference.Currency, currency, StringComparison.Ordinal))
        {
            vendorCall.Remember(reference with { AmountReturned = reference.AmountReturned + returned });
        }
    }

    /// <summary>
    /// A refund by payment intent gives money back on its charge too: a charge the guard knows (remembered with the
    /// payment intent it looked up) is remembered smaller, so a later refund by charge id reserves what is left.
    /// </summary>
    private static async ValueTask RememberRefundedChargeAsync(VendorCall vendorCall, StripeCallState state, StripeObject result, long? settledMinor, string? currency, CancellationToken cancellationToken)
    {
        if (state.ReferenceKind != StripeObjectLookup.PaymentIntent || !state.Endpoint.ReturnsMoneyOnReference || state.Endpoint.SettleField is null
            || settledMinor is not { } returned || result.Charge is not { } chargeId || chargeId == state.ReferenceId)
        {
            return;
        }

        if (await vendorCall.FindObjectAsync(chargeId, cancellationToken).ConfigureAwait(false) is { } charge
            && string.Equals(charge.Currency, currency, StringComparison.Ordinal))
        {
            vendorCall.Remember(charge with { AmountReturned = charge.AmountReturned + returned });
        }
    }

    private static bool TryParseAmount(string text, out long amount)
    {
        amount = 0;
        return text.Length is > 0 and <= MaxAmountDigits
            && text.All(char.IsAsciiDigit)
            && long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out amount);
    }

    private static string? SingleHeader(HttpRequestMessage request, string name) =>
        request.Headers.TryGetValues(name, out var values) ? values.FirstOrDefault() : null;

    private static GuardDenial Malformed(string message) => new(ReasonCodes.MalformedRequest, message);
}
