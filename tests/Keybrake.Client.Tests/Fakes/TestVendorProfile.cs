using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Keybrake.Client.Tests;

/// <summary>
/// A made-up vendor, "testvendor", written the way a real vendor package writes its profile: the brake key
/// rides in <c>Authorization: Bearer</c>; <c>POST /v1/spend</c> costs money and its form body's
/// <c>amount_cents</c> is the estimate; the vendor's answer says what it really cost; denials are JSON.
/// </summary>
internal class TestVendorProfile : VendorProfile
{
    public const string Name = "testvendor";
    public const string RecipientsScope = "recipients";
    public const string MaxItemsLimit = "maxItems";

    public TestVendorProfile()
        : this(Name)
    {
    }

    protected TestVendorProfile(string vendor)
        : base(vendor)
    {
    }

    public override IReadOnlyCollection<string> ScopeNames => [RecipientsScope];

    public override IReadOnlyCollection<string> LimitNames => [MaxItemsLimit];

    /// <summary>The host <see cref="GuardHost.BaseAddress"/> names.</summary>
    public override IReadOnlyCollection<string> SecretHosts => ["api.testvendor.example"];

    public override string? ReadBrakeKey(HttpRequestMessage request) =>
        request.Headers.Authorization is { Scheme: "Bearer", Parameter: { Length: > 0 } key } ? key : null;

    public override void ApplyVendorSecret(HttpRequestMessage request, string vendorSecret) =>
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", vendorSecret);

    public override void DescribeEndpoint(VendorCall vendorCall)
    {
        var segments = vendorCall.PathSegments;
        if (vendorCall.Method == "POST" && segments is ["v1", "spend"])
        {
            vendorCall.EndpointTemplate = "/v1/spend";
            vendorCall.IsCostBearing = true;
            return;
        }

        vendorCall.EndpointTemplate = segments is ["v1", "items", _] ? "/v1/items/{id}" : "/" + string.Join('/', segments);
    }

    public override ValueTask<GuardDenial?> InspectRequestAsync(VendorCall vendorCall, CancellationToken cancellationToken)
    {
        vendorCall.IdempotencyKey = vendorCall.Request.Headers.TryGetValues("Idempotency-Key", out var keys) ? keys.Single() : null;
        if (!FormUrlEncodedBody.TryParse(vendorCall.Body.Span, out var form, out var error))
        {
            return Deny(ReasonCodes.MalformedRequest, error);
        }

        if (form.TryGetSingle("recipient", out var recipient) && recipient is not null
            && vendorCall.GetAllowlist(RecipientsScope) is { } recipients && !recipients.Contains(recipient))
        {
            return Deny(ReasonCodes.RecipientNotAllowed, $"recipient '{recipient}' is not allowed");
        }

        if (!vendorCall.IsCostBearing)
        {
            return ValueTask.FromResult<GuardDenial?>(null);
        }

        if (!form.TryGetSingle("amount_cents", out var amountText)
            || !long.TryParse(amountText, NumberStyles.None, CultureInfo.InvariantCulture, out var cents))
        {
            return Deny(ReasonCodes.MalformedRequest, "amount_cents must be sent once, as a whole number");
        }

        vendorCall.Estimate = Usd.FromCents(cents);
        vendorCall.AddAuditParameter("amount_cents", amountText!);
        if (recipient is not null)
        {
            vendorCall.AddAuditParameter("recipient", VendorCall.RedactedValue);
        }

        return ValueTask.FromResult<GuardDenial?>(null);
    }

    /// <summary>A 5xx holds, any other failure releases, a success commits what the body's <c>amount_cents</c> says.</summary>
    public override async ValueTask<VendorSettlement> InspectResponseAsync(VendorCall vendorCall, HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var status = (int)response.StatusCode;
        if (status >= 500)
        {
            return VendorSettlement.Hold;
        }

        if (status is < 200 or > 299)
        {
            return VendorSettlement.Release;
        }

        var body = await vendorCall.ReadResponseBodyAsync(response, cancellationToken);
        if (body is not { } bytes)
        {
            return VendorSettlement.Commit(vendorCall.Estimate);
        }

        using var json = JsonDocument.Parse(bytes);

        // Objects priced later: a response names the object to defer to, or reports a deferred object's price.
        if (json.RootElement.TryGetProperty("priced_id", out var pricedId))
        {
            vendorCall.SettleDeferred(pricedId.GetString()!, json.RootElement.TryGetProperty("price_cents", out var cents) ? Usd.FromCents(cents.GetInt64()) : null);
        }

        if (json.RootElement.TryGetProperty("deferred_id", out var deferredId))
        {
            return VendorSettlement.Defer(deferredId.GetString()!);
        }

        return json.RootElement.TryGetProperty("amount_cents", out var actual)
            ? VendorSettlement.Commit(Usd.FromCents(actual.GetInt64()))
            : VendorSettlement.Commit(vendorCall.Estimate);
    }

    public override HttpResponseMessage CreateDenialResponse(VendorCall vendorCall, GuardDenial denial)
    {
        var body = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["error"] = new Dictionary<string, object> { ["reason"] = denial.Reason, ["message"] = denial.Message, ["status"] = denial.StatusCode },
        });
        return new HttpResponseMessage((HttpStatusCode)denial.StatusCode)
        {
            Content = new StringContent(body, Encoding.UTF8, "application/json"),
        };
    }

    private static ValueTask<GuardDenial?> Deny(string reason, string message) =>
        ValueTask.FromResult<GuardDenial?>(new GuardDenial(reason, message));
}

/// <summary>The same vendor under another name, for tests that listen to process-wide telemetry.</summary>
internal sealed class TelemetryVendorProfile : TestVendorProfile
{
    public new const string Name = "telemetryvendor";

    public TelemetryVendorProfile()
        : base(Name)
    {
    }
}
