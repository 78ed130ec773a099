using System.Net;
using System.Net.Http.Headers;
using System.Text;

namespace Keybrake.Client.Benchmarks;

/// <summary>
/// The terminal handler in place of the network: answers every request with a canned Stripe object, in a new
/// <see cref="HttpResponseMessage"/> each time as a real handler would. Baselines and guarded clients use it alike.
/// </summary>
internal sealed class StubStripeHandler : HttpMessageHandler
{
    private readonly byte[] _body;

    private StubStripeHandler(string json) => _body = Encoding.UTF8.GetBytes(json);

    /// <summary>Answers with a customer object, as <c>GET /v1/customers/{id}</c> does.</summary>
    public static StubStripeHandler Customer() => new(CannedCustomer);

    /// <summary>Answers with a charge of 2000 (USD 20.00), as <c>POST /v1/charges</c> does.</summary>
    public static StubStripeHandler Charge() => new(CannedCharge);

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
        Task.FromResult(Respond(request));

    protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken) => Respond(request);

    private HttpResponseMessage Respond(HttpRequestMessage request)
    {
        var content = new ByteArrayContent(_body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json", "utf-8");
        var response = new HttpResponseMessage(HttpStatusCode.OK) { Content = content, RequestMessage = request };
        response.Headers.TryAddWithoutValidation("Request-Id", "req_benchmark");
        return response;
    }

    // Shaped like Stripe's own example objects (github.com/stripe/openapi, fixtures3.json), with the ids and
    // amounts the benchmarks send.
    private const string CannedCustomer = """
        {
          "id": "cus_123",
          "object": "customer",
          "address": null,
          "balance": 0,
          "created": 1234567890,
          "currency": "usd",
          "default_source": null,
          "delinquent": false,
          "description": null,
          "discount": null,
          "email": "jenny.rosen@example.com",
          "invoice_prefix": "7FE1103",
          "invoice_settings": { "custom_fields": null, "default_payment_method": null, "footer": null, "rendering_options": null },
          "livemode": false,
          "metadata": {},
          "name": "Jenny Rosen",
          "next_invoice_sequence": 1,
          "phone": null,
          "preferred_locales": [],
          "shipping": null,
          "tax_exempt": "none",
          "test_clock": null
        }
        """;

    private const string CannedCharge = """
        {
          "id": "ch_3MmlLrLkdIwHu7ix0snN0B15",
          "object": "charge",
          "amount": 2000,
          "amount_captured": 2000,
          "amount_refunded": 0,
          "application": null,
          "application_fee": null,
          "application_fee_amount": null,
          "balance_transaction": "txn_3MmlLrLkdIwHu7ix0uke3Ezy",
          "billing_details": {
            "address": { "city": null, "country": null, "line1": null, "line2": null, "postal_code": null, "state": null },
            "email": null,
            "name": null,
            "phone": null
          },
          "calculated_statement_descriptor": "Stripe",
          "captured": true,
          "created": 1679090539,
          "currency": "usd",
          "customer": null,
          "description": null,
          "disputed": false,
          "failure_balance_transaction": null,
          "failure_code": null,
          "failure_message": null,
          "fraud_details": {},
          "livemode": false,
          "metadata": {},
          "on_behalf_of": null,
          "outcome": {
            "network_status": "approved_by_network",
            "reason": null,
            "risk_level": "normal",
            "risk_score": 32,
            "seller_message": "Payment complete.",
            "type": "authorized"
          },
          "paid": true,
          "payment_intent": null,
          "payment_method": "card_1MmlLrLkdIwHu7ixIJwEWSNR",
          "payment_method_details": {
            "card": {
              "brand": "visa",
              "checks": { "address_line1_check": null, "address_postal_code_check": null, "cvc_check": null },
              "country": "US",
              "exp_month": 3,
              "exp_year": 2024,
              "fingerprint": "mToisGZ01V71BCos",
              "funding": "credit",
              "installments": null,
              "last4": "4242",
              "mandate": null,
              "network": "visa",
              "three_d_secure": null,
              "wallet": null
            },
            "type": "card"
          },
          "receipt_email": null,
          "receipt_number": null,
          "receipt_url": "https://pay.stripe.com/receipts/payment/CAcaFwoVYWNjdF8xTTJKVGtMa2RJd0h1N2l4KOvG06AGMgZfBXyr1aw6LBa9vaaSRWU96d8qBwz9z2J_CObiV_H2-e8RezSK_sw0KISesp4czsOUlVKY",
          "refunded": false,
          "review": null,
          "shipping": null,
          "source": {
            "id": "card_1MmlLrLkdIwHu7ixIJwEWSNR",
            "object": "card",
            "brand": "Visa",
            "country": "US",
            "exp_month": 3,
            "exp_year": 2024,
            "fingerprint": "mToisGZ01V71BCos",
            "funding": "credit",
            "last4": "4242",
            "metadata": {}
          },
          "source_transfer": null,
          "statement_descriptor": null,
          "statement_descriptor_suffix": null,
          "status": "succeeded",
          "transfer_data": null,
          "transfer_group": null
        }
        """;
}
