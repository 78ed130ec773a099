using System.Collections.Frozen;
using System.Globalization;
using Microsoft.Extensions.Options;

namespace Keybrake.Client.Twilio;

/// <summary>
/// Twilio as the guard sees it: the brake key rides as the Basic-auth password; bodies are form-encoded; a
/// message is estimated from its segments (GSM-7 or UCS-2) or as an MMS, times its destination country's
/// rate, and settles to Twilio's price once a response shows it; calls and other paid endpoints reserve the
/// policy's per-request maximum; denials look like Twilio errors.
/// </summary>
internal sealed class TwilioVendorProfile : VendorProfile
{
    public const string VendorName = "twilio";
    private const string FormMediaType = "application/x-www-form-urlencoded";
    private const string MessagesTemplate = "/2010-04-01/Accounts/{sid}/Messages.json";

    /// <summary>Fields the guard reads: each must appear at most once, or the guard would have to guess which Twilio uses.</summary>
    private static readonly string[] s_singleFields = ["To", "From", "MessagingServiceSid", "Body", "ContentSid"];

    /// <summary>Fields safe to keep in audit records: senders, SIDs and settings. Bodies, recipients and URLs are redacted.</summary>
    private static readonly FrozenSet<string> s_auditedFields = FrozenSet.Create(
        StringComparer.Ordinal,
        "From", "MessagingServiceSid", "ContentSid", "ApplicationSid", "SmartEncoded", "SendAt", "ScheduleType",
        "ValidityPeriod", "Attempt", "ShortenUrls", "RiskCheck", "Method", "Timeout", "Record", "MachineDetection", "Channel");

    private readonly SegmentRateTable _rates;
    private readonly FrozenDictionary<string, KeyRates> _keyRates;
    private readonly TwilioPriceReconciler? _reconciler;
    private readonly TwilioPricingApi? _pricing;
    private readonly FrozenSet<string> _configuredSmsRates;

    public TwilioVendorProfile(IOptions<KeybrakeTwilioOptions> options, TwilioPriceReconciler? reconciler = null, TwilioPricingApi? pricing = null)
        : base(VendorName)
    {
        var settings = options.Value;
        _rates = SegmentRateTable.Create(settings.SegmentRates.AsReadOnly(), settings.MmsRates.AsReadOnly());
        _configuredSmsRates = settings.SegmentRates.Keys.ToFrozenSet(StringComparer.Ordinal);
        _pricing = pricing is { Enabled: true } ? pricing : null;
        _keyRates = settings.Keys.ToFrozenDictionary(
            entry => entry.Key,
            entry => KeyRates.From(entry.Value),
            StringComparer.Ordinal);
        _reconciler = reconciler;

        // Central mode: the guard takes part in electing the one process per key that reconciles prices.
        _reconciler?.Start();
    }

    public override IReadOnlyCollection<string> ScopeNames => TwilioScope.Names;

    /// <summary>
    /// <c>api.twilio.com</c> and every other host under <c>twilio.com</c>: the Twilio SDK composes its hosts from
    /// some forty product names (<c>messaging</c>, <c>pricing</c>, <c>verify</c>, <c>lookups</c>, ...) and an
    /// optional edge and region (<c>api.sydney.au1.twilio.com</c>), so a fixed list would break regional
    /// routing and every SDK upgrade that adds a product. Every name under <c>twilio.com</c> is Twilio's own.
    /// </summary>
    public override IReadOnlyCollection<string> SecretHosts { get; } = ["api.twilio.com", "*.twilio.com"];

    public override bool IsSecretHost(string host) => TwilioHosts.IsTwilioHost(host);

    public override IReadOnlyCollection<string> LimitNames => TwilioScope.LimitNames;

    internal SegmentRateTable Rates => _rates;

    public override string? ReadBrakeKey(HttpRequestMessage request) =>
        TwilioBasicAuth.TryRead(request, out _, out var password) && password.Length > 0 ? password : null;

    public override void ApplyVendorSecret(HttpRequestMessage request, string vendorSecret)
    {
        // The user name (Account SID or API key SID) stays; only the password becomes the real secret.
        TwilioBasicAuth.TryRead(request, out var username, out _);
        request.Headers.Authorization = TwilioBasicAuth.Create(username, vendorSecret);
    }

    public override void DescribeEndpoint(VendorCall vendorCall)
    {
        var kind = TwilioEndpointCatalog.Find(vendorCall.Method, vendorCall.PathSegments);
        vendorCall.EndpointTemplate = kind == TwilioEndpointKind.MessageCreate ? MessagesTemplate : TwilioEndpointCatalog.TemplateOf(vendorCall.PathSegments);
        if (kind != TwilioEndpointKind.Other)
        {
            vendorCall.IsCostBearing = true;
            vendorCall.VendorState = TwilioCallState.For(kind);
        }
    }

    public override ValueTask<GuardDenial?> InspectRequestAsync(VendorCall vendorCall, CancellationToken cancellationToken)
    {
        if (vendorCall.VendorState is not TwilioCallState state)
        {
            return ValueTask.FromResult<GuardDenial?>(null);
        }

        // Twilio has no idempotency key: every send is a new message. The ledger still gets one per call, so
        // its own retries (in central mode) reserve once; the loop breaker counts identical sends as repeats.
        vendorCall.IdempotencyKey = "twilio_" + Guid.NewGuid().ToString("N");
        var denial = Inspect(vendorCall, state);
        return denial is null && vendorCall.VendorState is TwilioCallState { Quote: { } quote } && _pricing is { } pricing
            ? QuoteAsync(vendorCall, pricing, quote, cancellationToken)
            : ValueTask.FromResult(denial);
    }

    public override async ValueTask<VendorSettlement> InspectResponseAsync(VendorCall vendorCall, HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var status = (int)response.StatusCode;
        var state = vendorCall.VendorState as TwilioCallState;
        if (state is not null && status >= 500)
        {
            return VendorSettlement.Hold; // Twilio may have queued it; with no idempotency key, nobody can ask
        }

        if (status is < 200 or > 299)
        {
            return VendorSettlement.Release; // Twilio refused the call: nothing was sent
        }

        if (state is null)
        {
            if (TwilioEndpointCatalog.MayReportPrices(vendorCall.PathSegments))
            {
                await ReportPricesAsync(vendorCall, response, cancellationToken).ConfigureAwait(false);
            }

            return VendorSettlement.Release;
        }

        if (state.Kind == TwilioEndpointKind.PerRequest)
        {
            return VendorSettlement.Commit(vendorCall.Estimate);
        }

        var body = await vendorCall.ReadResponseBodyAsync(response, cancellationToken).ConfigureAwait(false);
        var resources = new List<TwilioResource>(1);
        if (body is not { } json || !TwilioResource.TryParse(json.Span, resources) || resources.Count == 0)
        {
            throw new InvalidDataException("The Twilio response is not a resource with a SID the guard can read.");
        }

        var created = resources[0];
        if (created.Price is { } price)
        {
            // Priced already: settle now. A price in another currency leaves the estimate as the cost.
            return VendorSettlement.Commit(TwilioPrice.TryToUsd(price, created.PriceUnit, out var usd) ? usd : vendorCall.Estimate);
        }

        _reconciler?.Track(vendorCall.KeyId, vendorCall.Request, vendorCall.PathSegments, created.Sid);
        return VendorSettlement.Defer(created.Sid, TwilioRefetch.Of(vendorCall.Request, vendorCall.PathSegments, created.Sid));
    }

    public override HttpResponseMessage CreateDenialResponse(VendorCall vendorCall, GuardDenial denial) =>
        TwilioDenialResponse.Create(denial);

    private static async ValueTask ReportPricesAsync(VendorCall vendorCall, HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var body = await vendorCall.ReadResponseBodyAsync(response, cancellationToken).ConfigureAwait(false);
        var resources = new List<TwilioResource>();
        if (body is not { } json || !TwilioResource.TryParse(json.Span, resources))
        {
            return; // nothing to learn: open reservations stay counted at their estimate
        }

        foreach (var resource in resources)
        {
            if (resource.Price is { } price)
            {
                if (TwilioPrice.TryToUsd(price, resource.PriceUnit, out var usd))
                {
                    vendorCall.SettleDeferred(resource.Sid, usd);
                }
            }
            else if (resource.IsUnbilledFinal)
            {
                vendorCall.SettleDeferred(resource.Sid, null);
            }
        }
    }

    private GuardDenial? Inspect(VendorCall vendorCall, TwilioCallState state)
    {
        if (ReadForm(vendorCall, out var form) is { } formDenial)
        {
            return formDenial;
        }

        foreach (var field in s_singleFields)
        {
            if (!form.TryGetSingle(field, out _))
            {
                return Malformed($"the form field '{field}' is sent more than once, so the recipient, sender or body it sets is ambiguous");
            }
        }

        if (vendorCall.RecordsAuditParameters)
        {
            foreach (var (name, value) in form.Fields)
            {
                vendorCall.AddAuditParameter(name, s_auditedFields.Contains(name) ? value : VendorCall.RedactedValue);
            }
        }

        return state.Kind switch
        {
            TwilioEndpointKind.MessageCreate => InspectMessage(vendorCall, form),
            TwilioEndpointKind.CallCreate => InspectCall(vendorCall, form),
            _ => PerRequestEstimate(vendorCall, "this endpoint's cost"),
        };
    }

    private GuardDenial? InspectMessage(VendorCall vendorCall, FormUrlEncodedBody form)
    {
        form.TryGetSingle("To", out var to);
        form.TryGetSingle("From", out var from);
        form.TryGetSingle("MessagingServiceSid", out var messagingService);
        form.TryGetSingle("Body", out var body);
        form.TryGetSingle("ContentSid", out var contentSid);
        var media = CountMedia(form);
        if (string.IsNullOrEmpty(to))
        {
            return Malformed("a message needs 'To'");
        }

        if (!E164.IsE164(to))
        {
            // Pricing needs the destination country; channel addresses (whatsapp:, messenger:) are priced differently.
            return Malformed("'To' must be an E.164 phone number such as +14155550100: Keybrake prices SMS and MMS to phone numbers only");
        }

        if (string.IsNullOrEmpty(body) && media == 0 && string.IsNullOrEmpty(contentSid))
        {
            return Malformed("a message needs 'Body', 'MediaUrl' or 'ContentSid'");
        }

        if (string.IsNullOrEmpty(from) && string.IsNullOrEmpty(messagingService))
        {
            return Malformed("a message needs 'From' or 'MessagingServiceSid'");
        }

        if (TwilioScope.CheckSender(vendorCall, NullIfEmpty(from), NullIfEmpty(messagingService)) is { } senderDenial)
        {
            return senderDenial;
        }

        if (TwilioScope.CheckDestination(vendorCall, to) is { } destinationDenial)
        {
            return destinationDenial;
        }

        var country = _rates.CountryOf(to);
        vendorCall.AddAuditParameter("to_country", country ?? "unknown");
        if (string.IsNullOrEmpty(body) && media == 0)
        {
            // A content template: its text, so its segments, is not in the request.
            return PerRequestEstimate(vendorCall, "a message sent from a content template (ContentSid)");
        }

        var segments = SmsSegments.Count(body ?? string.Empty);
        vendorCall.AddAuditParameter("segments", segments.Segments.ToString(CultureInfo.InvariantCulture));
        vendorCall.AddAuditParameter("encoding", segments.Encoding == SmsEncoding.Gsm7 ? "gsm7" : "ucs2");
        vendorCall.AddAuditParameter("media", media.ToString(CultureInfo.InvariantCulture));
        if (media == 0 && vendorCall.GetLimit(TwilioScope.MaxSegments) is { } maxSegments && segments.Segments > maxSegments)
        {
            return new GuardDenial(
                ReasonCodes.AmountOverRequestLimit,
                $"this message is {segments.Segments} segments ({segments.Units} {(segments.Encoding == SmsEncoding.Gsm7 ? "GSM-7 septets" : "UCS-2 code units")}), over the {maxSegments} segments key '{vendorCall.KeyId}' allows per message");
        }

        // The Pricing API, when enabled, replaces the shipped table's SMS rate: not a rate an operator configured
        // (for every key or this one), and not for an MMS the table prices as an MMS.
        if (_pricing is not null && country is not null && vendorCall.VendorState is TwilioCallState state
            && _keyRates.GetValueOrDefault(vendorCall.KeyId)?.SegmentRates.ContainsKey(country) != true
            && !_configuredSmsRates.Contains(country)
            && (media == 0 || !_rates.TryGetMmsRate(country, out _)))
        {
            vendorCall.VendorState = state.WithQuote(new PendingQuote(country, segments.Segments, media, SenderNumberType.Of(NullIfEmpty(from))));
            return null;
        }

        return Price(vendorCall, country, segments.Segments, media, apiRate: null);
    }

    /// <summary>Asks the Pricing API for the country's rate (cached; the shipped table when it cannot say), then sets the estimate.</summary>
    private async ValueTask<GuardDenial?> QuoteAsync(VendorCall vendorCall, TwilioPricingApi pricing, PendingQuote quote, CancellationToken cancellationToken)
    {
        Usd? apiRate = null;
        if (vendorCall.GetVendorCredential() is { } credential
            && TwilioBasicAuth.TryRead(vendorCall.Request, out var username, out _) && username.Length > 0)
        {
            apiRate = await pricing.GetSmsRateAsync(quote.Country, username, credential, quote.SenderNumberType, cancellationToken).ConfigureAwait(false);
        }

        vendorCall.AddAuditParameter("rate_source", apiRate is null ? "table" : "pricing_api");
        return Price(vendorCall, quote.Country, quote.Segments, quote.Media, apiRate);
    }

    /// <summary>The estimate: segments times the SMS rate (the API's, else the key's, the configured or the shipped one), or one MMS.</summary>
    private GuardDenial? Price(VendorCall vendorCall, string? country, int segments, int media, Usd? apiRate)
    {
        var keyRates = _keyRates.GetValueOrDefault(vendorCall.KeyId);
        var smsRate = apiRate ?? Usd.Zero;
        if (apiRate is null && !TryGetSmsRate(country, keyRates, out smsRate))
        {
            return new GuardDenial(
                ReasonCodes.RecipientNotAllowed,
                $"Keybrake has no per-segment rate for destination country {country ?? "(unknown prefix)"}, so it cannot count this message against the cap; add one under {KeybrakeTwilioOptions.SectionName}:SegmentRates or set the key's DefaultSegmentRate");
        }

        // MMS rule: a message with MediaUrl is one MMS at the country's MMS rate. Where no MMS rate is known
        // (Twilio converts MMS to an SMS with a link outside the US and Canada), it is the body's segments plus
        // one segment for the link, at the SMS rate.
        long micros;
        try
        {
            micros = media == 0 ? checked(smsRate.Micros * segments)
                : country is not null && _rates.TryGetMmsRate(country, out var mmsRate) ? mmsRate.Micros
                : checked(smsRate.Micros * (segments + 1));
        }
        catch (OverflowException)
        {
            return Malformed("the message's cost is out of range");
        }

        vendorCall.Estimate = Usd.FromMicros(micros);
        return null;
    }

    private static GuardDenial? InspectCall(VendorCall vendorCall, FormUrlEncodedBody form)
    {
        form.TryGetSingle("To", out var to);
        form.TryGetSingle("From", out var from);
        if (string.IsNullOrEmpty(to) || string.IsNullOrEmpty(from))
        {
            return Malformed("a call needs 'To' and 'From'");
        }

        return TwilioScope.CheckSender(vendorCall, from, null)
            ?? TwilioScope.CheckDestination(vendorCall, to)
            ?? PerRequestEstimate(vendorCall, "a call's cost (its length)");
    }

    private static GuardDenial? PerRequestEstimate(VendorCall vendorCall, string what)
    {
        if (vendorCall.PerRequestMax is { } max)
        {
            vendorCall.Estimate = max;
            return null;
        }

        return new GuardDenial(
            ReasonCodes.AmountOverRequestLimit,
            $"{what} cannot be known in advance; set PerRequestMax on key '{vendorCall.KeyId}''s policy to reserve it");
    }

    private bool TryGetSmsRate(string? country, KeyRates? keyRates, out Usd rate)
    {
        if (country is not null)
        {
            if (keyRates?.SegmentRates.TryGetValue(country, out rate) == true || _rates.TryGetSmsRate(country, out rate))
            {
                return true;
            }
        }

        rate = keyRates?.DefaultSegmentRate ?? Usd.Zero;
        return keyRates?.DefaultSegmentRate is not null;
    }

    private static int CountMedia(FormUrlEncodedBody form)
    {
        var count = 0;
        foreach (var field in form.Fields)
        {
            if (string.Equals(field.Key, "MediaUrl", StringComparison.Ordinal))
            {
                count++;
            }
        }

        return count;
    }

    private static GuardDenial? ReadForm(VendorCall vendorCall, out FormUrlEncodedBody form)
    {
        form = FormUrlEncodedBody.Empty;
        if (vendorCall.Body.IsEmpty)
        {
            return null;
        }

        if (!string.Equals(vendorCall.MediaType, FormMediaType, StringComparison.OrdinalIgnoreCase))
        {
            return Malformed($"Twilio's API takes {FormMediaType} bodies, and this call sent '{vendorCall.MediaType ?? "no content type"}'");
        }

        if (!FormUrlEncodedBody.TryParse(vendorCall.Body.Span, out var parsed, out var error))
        {
            return Malformed(error);
        }

        form = parsed;
        return null;
    }

    private static string? NullIfEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;

    private static GuardDenial Malformed(string message) => new(ReasonCodes.MalformedRequest, message);

    /// <summary>One key's rates, parsed once.</summary>
    private sealed record KeyRates(FrozenDictionary<string, Usd> SegmentRates, Usd? DefaultSegmentRate)
    {
        public static KeyRates From(KeybrakeTwilioKeyOptions options) => new(
            options.SegmentRates.ToFrozenDictionary(
                entry => entry.Key,
                entry => SegmentRateTable.TryParseRate(entry.Value, out var rate) ? rate : throw new ArgumentException($"The rate for {entry.Key} is not a positive USD amount.", nameof(options)),
                StringComparer.Ordinal),
            options.DefaultSegmentRate is { } text && SegmentRateTable.TryParseRate(text, out var fallback) ? fallback : null);
    }
}
