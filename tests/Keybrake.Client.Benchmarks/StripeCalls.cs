using System.Net;
using System.Net.Http.Headers;
using Microsoft.Extensions.DependencyInjection;

namespace Keybrake.Client.Benchmarks;

/// <summary>
/// The guard and the requests the benchmarks share. Requests are built the way Stripe.net builds them: a new
/// <see cref="HttpRequestMessage"/> per call with the key as a Bearer token, Stripe's version header, and for a
/// POST a form-encoded body and a fresh <c>Idempotency-Key</c>.
/// </summary>
internal static class StripeCalls
{
    public const string KeyId = "benchmark-agent";
    public const string BrakeKey = "vault_key_benchmark_agent_00000001";
    public const string VendorSecret = "sk_test_benchmark";

    private static readonly Uri s_customer = new("https://api.stripe.com/v1/customers/cus_123");
    private static readonly Uri s_charges = new("https://api.stripe.com/v1/charges");

    private static readonly KeyValuePair<string, string>[] s_chargeForm =
    [
        new("amount", "2000"),
        new("currency", "usd"),
        new("source", "tok_visa"),
    ];

    /// <summary>
    /// A guard with one Stripe key whose limits are never reached: a daily cap of a trillion dollars (the
    /// largest <see cref="Usd"/>) and the loop breaker off, so every call takes the allowed path.
    /// </summary>
    public static KeybrakeGuard CreateGuard(string? auditFilePath = null) =>
        KeybrakeGuard.Create(k => k
            .Configure(o =>
            {
                o.AddKey(KeyId, key =>
                {
                    key.BrakeKey = BrakeKey;
                    key.Vendor = "stripe";
                    key.VendorSecret = VendorSecret;
                    key.Policy.DailyCap = Usd.MaxValue;
                    key.Policy.LoopBreaker.MaxRepeats = 0;
                });
                o.Audit.FilePath = auditFilePath;
            })
            .AddStripe());

    /// <summary>
    /// The same key in central mode: the budget service at <paramref name="service"/> holds the cap (its own
    /// configuration sets it; the client's is not needed), and audit records go through the durable outbox
    /// at <paramref name="outboxPath"/> to the service. The loop breaker is off. The secret goes to the
    /// Stripe stand-in at <paramref name="stripeStandIn"/> (none: to Stripe's own host, or to the handler the client is made with).
    /// </summary>
    public static KeybrakeGuard CreateCentralGuard(Uri service, string outboxPath, string? stripeStandIn, string? caCertificatePath = null) =>
        KeybrakeGuard.Create(k => k
            .Configure(o =>
            {
                o.AddKey(KeyId, key =>
                {
                    key.BrakeKey = BrakeKey;
                    key.Vendor = "stripe";
                    key.VendorSecret = VendorSecret;
                    key.VendorEndpoint = stripeStandIn;
                    key.Policy.LoopBreaker.MaxRepeats = 0;
                });
            })
            .UseBudgetService(o =>
            {
                o.Address = service;
                o.AdminToken = Keybrake.Client.TestUtilities.BudgetService.BudgetServiceHost.AdminToken;
                o.ClientToken = Keybrake.Client.TestUtilities.BudgetService.BudgetServiceHost.ClientToken;
                o.OutboxPath = outboxPath;
                o.CaCertificatePath = caCertificatePath;
            })
            .AddStripe());

    /// <summary><c>GET /v1/customers/cus_123</c>: a read, which costs nothing.</summary>
    public static async Task<HttpStatusCode> GetCustomerAsync(HttpClient client)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, s_customer);
        AddStripeHeaders(request);
        using var response = await client.SendAsync(request);
        return response.StatusCode;
    }

    /// <summary>
    /// <c>POST /v1/charges</c> with <c>amount=2000&amp;currency=usd&amp;source=tok_visa</c>: USD 20.00. Stripe.net
    /// sends a new <c>Idempotency-Key</c> with every POST unless network retries are turned off.
    /// </summary>
    public static Task<HttpStatusCode> CreateChargeAsync(HttpClient client, bool sendIdempotencyKey = true) =>
        CreateChargeAsync(client, s_charges, sendIdempotencyKey);

    /// <summary>The same charge sent to <paramref name="charges"/>: a stand-in for Stripe on another address.</summary>
    public static async Task<HttpStatusCode> CreateChargeAsync(HttpClient client, Uri charges, bool sendIdempotencyKey = true)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, charges) { Content = new FormUrlEncodedContent(s_chargeForm) };
        AddStripeHeaders(request);
        if (sendIdempotencyKey)
        {
            request.Headers.TryAddWithoutValidation("Idempotency-Key", Guid.NewGuid().ToString());
        }

        using var response = await client.SendAsync(request);
        return response.StatusCode;
    }

    /// <summary>
    /// Fails the run unless the guarded calls take the allowed path: a read is answered, and a charge is
    /// answered and settled at USD 20.00 on the ledger. A benchmark of denials would measure the wrong thing.
    /// </summary>
    public static void VerifyAllowedPath(string? auditFilePath = null)
    {
        var guard = CreateGuard(auditFilePath);
        try
        {
            using var reads = guard.CreateHttpClient("stripe", StubStripeHandler.Customer());
            using var charges = guard.CreateHttpClient("stripe", StubStripeHandler.Charge());
            var read = GetCustomerAsync(reads).GetAwaiter().GetResult();
            var charge = CreateChargeAsync(charges).GetAwaiter().GetResult();
            var spend = guard.Admin.GetDailySpendAsync(KeyId).AsTask().GetAwaiter().GetResult();
            if (read != HttpStatusCode.OK || charge != HttpStatusCode.OK || spend.Settled != Usd.FromDollars(20))
            {
                throw new InvalidOperationException($"The guard did not allow the benchmark calls: GET {read}, POST {charge}, settled {spend.Settled}.");
            }
        }
        finally
        {
            guard.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    private static void AddStripeHeaders(HttpRequestMessage request)
    {
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", BrakeKey);
        request.Headers.TryAddWithoutValidation("Stripe-Version", "2025-09-30.clover");
        request.Headers.TryAddWithoutValidation("User-Agent", "Stripe/v1 .NetBindings/53.1.0");
    }
}
