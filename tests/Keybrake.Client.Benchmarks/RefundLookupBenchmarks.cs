using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using BenchmarkDotNet.Attributes;

namespace Keybrake.Client.Benchmarks;

/// <summary>
/// A refund of USD 5.00 (<c>POST /v1/refunds</c> with <c>charge</c> and <c>amount</c>, no currency, as Stripe.net
/// sends it), bare and guarded: of a charge the guard knows (it went through the guard), and of a charge it has
/// never seen, which it looks up first (<c>GET /v1/charges/{id}</c>: a new charge id every call, so every call
/// pays for a lookup). The stub answers both requests at once: the rows show the guard's own cost, not Stripe's
/// round trip, which a real lookup adds once per charge.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(BenchmarkConfig))]
[InvocationCount(CallsPerIteration)]
public class RefundLookupBenchmarks
{
    /// <summary>Calls per iteration; each lookup leaves one remembered charge, so each iteration starts afresh.</summary>
    public const int CallsPerIteration = 16_384;

    private const string KnownCharge = "ch_3MmlLrLkdIwHu7ix0snN0B15";
    private static readonly Uri s_refunds = new("https://api.stripe.com/v1/refunds");
    private static readonly Uri s_charges = new("https://api.stripe.com/v1/charges");

    private KeybrakeGuard? _guard;
    private HttpClient _client = null!;
    private int _sequence;

    [GlobalSetup]
    public void Setup() => VerifyAllowedPath();

    [IterationSetup(Targets = [nameof(Bare), nameof(BareLookupAndRefund)])]
    public void SetupBare() => _client = new HttpClient(new StubRefundHandler(), disposeHandler: true);

    [IterationSetup(Target = nameof(GuardedKnownCharge))]
    public void SetupGuardedKnown()
    {
        SetupGuarded();

        // The charge goes through the guard first, so the refunds find it remembered.
        using var charges = _guard!.CreateHttpClient("stripe", StubStripeHandler.Charge());
        var made = StripeCalls.CreateChargeAsync(charges, s_charges).GetAwaiter().GetResult();
        if (made != HttpStatusCode.OK)
        {
            throw new InvalidOperationException($"The charge the refunds name was not made: {made}.");
        }
    }

    [IterationSetup(Target = nameof(GuardedUnknownCharge))]
    public void SetupGuarded()
    {
        _guard = StripeCalls.CreateGuard();
        _client = _guard.CreateHttpClient("stripe", new StubRefundHandler());
    }

    [IterationCleanup]
    public void IterationCleanup()
    {
        _client.Dispose();
        if (_guard is not null)
        {
            _guard.DisposeAsync().AsTask().GetAwaiter().GetResult();
            _guard = null;
        }
    }

    [Benchmark(Baseline = true, Description = "POST refund, bare")]
    public Task<HttpStatusCode> Bare() => RefundAsync(_client, KnownCharge);

    [Benchmark(Description = "GET charge + POST refund, bare")]
    public async Task<HttpStatusCode> BareLookupAndRefund()
    {
        var charge = NextChargeId();
        using (var request = new HttpRequestMessage(HttpMethod.Get, new Uri("https://api.stripe.com/v1/charges/" + charge)))
        {
            AddStripeHeaders(request);
            using var response = await _client.SendAsync(request);
        }

        return await RefundAsync(_client, charge);
    }

    [Benchmark(Description = "POST refund, guarded, known charge")]
    public Task<HttpStatusCode> GuardedKnownCharge() => RefundAsync(_client, KnownCharge);

    [Benchmark(Description = "POST refund, guarded, charge looked up")]
    public Task<HttpStatusCode> GuardedUnknownCharge() => RefundAsync(_client, NextChargeId());

    private string NextChargeId() => "ch_checkout" + (++_sequence).ToString("D10", CultureInfo.InvariantCulture);

    private static async Task<HttpStatusCode> RefundAsync(HttpClient client, string charge)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, s_refunds)
        {
            Content = new FormUrlEncodedContent([new("charge", charge), new("amount", "500")]),
        };
        AddStripeHeaders(request);
        request.Headers.TryAddWithoutValidation("Idempotency-Key", Guid.NewGuid().ToString());
        using var response = await client.SendAsync(request);
        return response.StatusCode;
    }

    private static void AddStripeHeaders(HttpRequestMessage request)
    {
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", StripeCalls.BrakeKey);
        request.Headers.TryAddWithoutValidation("Stripe-Version", "2025-09-30.clover");
        request.Headers.TryAddWithoutValidation("User-Agent", "Stripe/v1 .NetBindings/53.1.0");
    }

    /// <summary>Fails the run unless both guarded refunds are allowed and settle at USD 5.00, the unknown one after one lookup.</summary>
    private void VerifyAllowedPath()
    {
        SetupGuardedKnown();
        try
        {
            var known = RefundAsync(_client, KnownCharge).GetAwaiter().GetResult();
            var unknown = RefundAsync(_client, NextChargeId()).GetAwaiter().GetResult();
            var spend = _guard!.Admin.GetDailySpendAsync(StripeCalls.KeyId).AsTask().GetAwaiter().GetResult();
            if (known != HttpStatusCode.OK || unknown != HttpStatusCode.OK || spend.Settled != Usd.FromDollars(30))
            {
                throw new InvalidOperationException($"The guard did not allow the benchmark refunds: known {known}, looked up {unknown}, settled {spend.Settled}.");
            }
        }
        finally
        {
            IterationCleanup();
        }
    }
}
