using System.Net;
using System.Net.Http.Headers;
using System.Text;

namespace Keybrake.Client.Benchmarks;

/// <summary>
/// The terminal handler for the refund benchmarks, in place of the network: <c>GET /v1/charges/{id}</c> answers
/// with a USD 20.00 charge of that id (as Stripe does for a charge a checkout made), anything else with a
/// USD 5.00 refund. A new <see cref="HttpResponseMessage"/> each time, as a real handler would.
/// </summary>
internal sealed class StubRefundHandler : HttpMessageHandler
{
    private static readonly byte[] s_refund = Encoding.UTF8.GetBytes(CannedRefund);

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
        Task.FromResult(Respond(request));

    private static HttpResponseMessage Respond(HttpRequestMessage request)
    {
        var path = request.RequestUri!.AbsolutePath;
        var body = request.Method == HttpMethod.Get && path.StartsWith("/v1/charges/", StringComparison.Ordinal)
            ? Encoding.UTF8.GetBytes(CannedCharge.Replace("{id}", path["/v1/charges/".Length..], StringComparison.Ordinal))
            : s_refund;
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json", "utf-8");
        var response = new HttpResponseMessage(HttpStatusCode.OK) { Content = content, RequestMessage = request };
        response.Headers.TryAddWithoutValidation("Request-Id", "req_benchmark");
        return response;
    }

    // Shaped like Stripe's own example objects (github.com/stripe/openapi, fixtures3.json), trimmed of the
    // payment method details the guard never reads.
    private const string CannedCharge = """
        {
          "id": "{id}",
          "object": "charge",
          "amount": 2000,
          "amount_captured": 2000,
          "amount_refunded": 0,
          "application_fee_amount": null,
          "balance_transaction": "txn_3MmlLrLkdIwHu7ix0uke3Ezy",
          "captured": true,
          "created": 1679090539,
          "currency": "usd",
          "customer": "cus_123",
          "description": null,
          "livemode": false,
          "metadata": {},
          "on_behalf_of": null,
          "outcome": { "network_status": "approved_by_network", "reason": null, "risk_level": "normal", "seller_message": "Payment complete.", "type": "authorized" },
          "paid": true,
          "payment_intent": null,
          "payment_method": "card_1MmlLrLkdIwHu7ixIJwEWSNR",
          "refunded": false,
          "status": "succeeded",
          "transfer_data": null,
          "transfer_group": null
        }
        """;

    private const string CannedRefund = """
        {
          "id": "re_1Nispe2eZvKYlo2Cd31jOCgZ",
          "object": "refund",
          "amount": 500,
          "balance_transaction": "txn_1Nispe2eZvKYlo2CYezqFhEx",
          "charge": "ch_1NirD82eZvKYlo2CIvbtLWuY",
          "created": 1692942318,
          "currency": "usd",
          "destination_details": { "card": { "reference": "123456789012", "reference_status": "available", "reference_type": "acquirer_reference_number", "type": "refund" }, "type": "card" },
          "metadata": {},
          "payment_intent": null,
          "reason": null,
          "receipt_number": null,
          "source_transfer_reversal": null,
          "status": "succeeded",
          "transfer_reversal": null
        }
        """;
}
