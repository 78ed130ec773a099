using System.Globalization;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Options;

namespace Keybrake.Client.Resend;

/// <summary>
/// Resend as the guard sees it: the brake key rides in <c>Authorization: Bearer</c> where the real <c>re_...</c>
/// key goes; <c>POST /emails</c> and <c>POST /emails/batch</c> take JSON and cost a flat price per email, where
/// Resend counts every to, cc and bcc recipient as an email; <c>POST /broadcasts/{id}/send</c> reaches a whole
/// segment of unknown size; denials look like Resend errors.
/// </summary>
internal sealed class ResendVendorProfile : VendorProfile
{
    public const string VendorName = "resend";
    public const string IdempotencyKeyHeader = "Idempotency-Key";
    public const string BatchValidationHeader = "x-batch-validation";

    /// <summary>Resend accepts idempotency keys of 1 to 256 characters.</summary>
    private const int MaxIdempotencyKeyLength = 256;

    private const string JsonMediaType = "application/json";

    private readonly KeybrakeResendOptions _options;

    /// <summary>Each policy's allowlist compiled once; a reloaded policy brings a new set, and so a new entry.</summary>
    private readonly ConditionalWeakTable<IReadOnlySet<string>, DomainAllowlist> _allowlists = [];

    public ResendVendorProfile(IOptions<KeybrakeResendOptions> options)
        : base(VendorName)
    {
        _options = options.Value;
    }

    public override IReadOnlyCollection<string> ScopeNames => ResendScope.ScopeNames;

    public override IReadOnlyCollection<string> SecretHosts { get; } = ["api.resend.com"];

    public override IReadOnlyCollection<string> LimitNames => ResendScope.LimitNames;

    public override string? ReadBrakeKey(HttpRequestMessage request)
    {
        var authorization = request.Headers.Authorization;
        return authorization is { Parameter.Length: > 0 } && string.Equals(authorization.Scheme, "Bearer", StringComparison.OrdinalIgnoreCase)
            ? authorization.Parameter
            : null;
    }

    public override void ApplyVendorSecret(HttpRequestMessage request, string vendorSecret) =>
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", vendorSecret);

    public override void DescribeEndpoint(VendorCall vendorCall)
    {
        var kind = ResendEndpoints.Classify(vendorCall.Method, vendorCall.PathSegments);
        vendorCall.EndpointTemplate = ResendEndpoints.TemplateOf(kind, vendorCall.PathSegments);
        if (kind != ResendEndpointKind.Other)
        {
            vendorCall.IsCostBearing = true;
            vendorCall.VendorState = new ResendCallState(kind);
        }
    }

    public override ValueTask<GuardDenial?> InspectRequestAsync(VendorCall vendorCall, CancellationToken cancellationToken) =>
        ValueTask.FromResult(vendorCall.VendorState is ResendCallState state ? Inspect(vendorCall, state) : null);

    public override async ValueTask<VendorSettlement> InspectResponseAsync(VendorCall vendorCall, HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var status = (int)response.StatusCode;
        if (status == 409 || status >= 500)
        {
            // Resend may have sent (409: the same Idempotency-Key is still in flight, or was used differently);
            // a retry with the same key will tell.
            return VendorSettlement.Hold;
        }

        if (status is < 200 or > 299 || vendorCall.VendorState is not ResendCallState state)
        {
            return VendorSettlement.Release; // Resend refused the call, or it sends nothing
        }

        if (state.Kind == ResendEndpointKind.SendBroadcast)
        {
            return VendorSettlement.Commit(vendorCall.Estimate); // the segment's size is never in the answer
        }

        var batch = state.Kind == ResendEndpointKind.SendBatch;
        var body = await vendorCall.ReadResponseBodyAsync(response, cancellationToken).ConfigureAwait(false);
        var result = body is { } json ? ResendSendResult.Parse(json, batch) : null;
        if (result is null)
        {
            throw new InvalidDataException("The Resend response is not the JSON object a send answers with.");
        }

        if (!batch)
        {
            return VendorSettlement.Commit(vendorCall.Estimate);
        }

        // Permissive validation sends the valid emails and lists the others by index: only the sent ones cost.
        long sentRecipients = 0;
        var sent = 0;
        for (var i = 0; i < state.Emails.Length; i++)
        {
            if (!result.FailedIndexes.Contains(i))
            {
                sent++;
                sentRecipients += state.Emails[i].Count;
            }
        }

        if (sent != result.Ids || result.FailedIndexes.Any(i => i < 0 || i >= state.Emails.Length))
        {
            throw new InvalidDataException(string.Create(
                CultureInfo.InvariantCulture,
                $"The Resend batch response does not add up: {result.Ids} ids and {result.FailedIndexes.Count} errors for {state.Emails.Length} emails."));
        }

        return VendorSettlement.Commit(Cost(state.PricePerEmail, sentRecipients));
    }

    public override HttpResponseMessage CreateDenialResponse(VendorCall vendorCall, GuardDenial denial) =>
        ResendDenialResponse.Create(denial);

    private GuardDenial? Inspect(VendorCall vendorCall, ResendCallState state)
    {
        if (state.Kind == ResendEndpointKind.SendBroadcast)
        {
            // The request names a segment, not its recipients: the cost cannot be known in advance.
            if (vendorCall.PerRequestMax is { } max)
            {
                vendorCall.Estimate = max;
                return null;
            }

            return new GuardDenial(
                ReasonCodes.AmountOverRequestLimit,
                "a broadcast goes to a whole segment, so its cost cannot be known in advance; deny 'POST /broadcasts/**' in the key's endpoint rules, or set PerRequestMax on its policy to allow broadcasts up to that amount");
        }

        if (ReadIdempotencyKey(vendorCall) is { } keyDenial)
        {
            return keyDenial;
        }

        var batch = state.Kind == ResendEndpointKind.SendBatch;
        string? mode = null;
        if (batch && SingleHeader(vendorCall.Request, BatchValidationHeader, out mode) is { } modeDenial)
        {
            return modeDenial;
        }

        if (batch && mode is not null && mode is not ("strict" or "permissive"))
        {
            return Malformed($"'{BatchValidationHeader}' is 'strict' or 'permissive'");
        }

        if (vendorCall.Body.IsEmpty)
        {
            return Malformed($"{vendorCall.EndpointTemplate} sends email and needs a JSON body");
        }

        if (!string.Equals(vendorCall.MediaType, JsonMediaType, StringComparison.OrdinalIgnoreCase))
        {
            return Malformed($"Resend takes {JsonMediaType} bodies, and this call sent '{vendorCall.MediaType ?? "no content type"}'");
        }

        if (!ResendEmailBody.TryRead(vendorCall.Body, batch, out var emails, out var problem))
        {
            return Malformed(problem);
        }

        long recipients = 0;
        foreach (var email in emails)
        {
            recipients += email.Count;
        }

        state.Emails = emails;
        state.PricePerEmail = _options.PriceFor(vendorCall.KeyId);
        vendorCall.AddAuditParameter("emails", emails.Length.ToString(CultureInfo.InvariantCulture));
        vendorCall.AddAuditParameter("recipients", recipients.ToString(CultureInfo.InvariantCulture));
        if (mode is not null)
        {
            vendorCall.AddAuditParameter(BatchValidationHeader, mode);
        }

        var scopeDenial = ResendScope.CheckCounts(vendorCall, emails, recipients)
            ?? (vendorCall.GetAllowlist(ResendScope.RecipientDomains) is { } allowed
                ? ResendScope.CheckDomains(_allowlists.GetValue(allowed, static set => DomainAllowlist.Create(set)), emails)
                : null);
        if (scopeDenial is not null)
        {
            return scopeDenial;
        }

        vendorCall.Estimate = Cost(state.PricePerEmail, recipients);
        return null;
    }

    /// <summary>
    /// Takes the call's <c>Idempotency-Key</c>, or gives a call without one its own: the header stays on the
    /// request, so a handler that re-sends the same request (a retry) presents the same key, the guard reserves
    /// once, and Resend sends once.
    /// </summary>
    private static GuardDenial? ReadIdempotencyKey(VendorCall vendorCall)
    {
        if (SingleHeader(vendorCall.Request, IdempotencyKeyHeader, out var key) is { } denial)
        {
            return denial;
        }

        if (key is null)
        {
            key = "keybrake-" + Guid.NewGuid().ToString("N");
            vendorCall.Request.Headers.TryAddWithoutValidation(IdempotencyKeyHeader, key);
        }
        else if (key.Length is 0 or > MaxIdempotencyKeyLength)
        {
            return Malformed($"Resend takes an {IdempotencyKeyHeader} of 1 to {MaxIdempotencyKeyLength} characters");
        }

        vendorCall.IdempotencyKey = key;
        return null;
    }

    private static GuardDenial? SingleHeader(HttpRequestMessage request, string name, out string? value)
    {
        value = null;
        if (!request.Headers.TryGetValues(name, out var values))
        {
            return null;
        }

        foreach (var item in values)
        {
            if (value is not null)
            {
                return Malformed($"the '{name}' header is sent more than once");
            }

            value = item;
        }

        return null;
    }

    private static Usd Cost(Usd pricePerEmail, long emails) => Usd.FromMicros(checked(pricePerEmail.Micros * emails));

    private static GuardDenial Malformed(string message) => new(ReasonCodes.MalformedRequest, message);
}
