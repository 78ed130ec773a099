using System.Net;
using BenchmarkDotNet.Attributes;

namespace Keybrake.Client.Benchmarks;

/// <summary>
/// (a) A read that moves no money, <c>GET /v1/customers/cus_123</c>: an <see cref="HttpClient"/> straight over
/// the stub handler, against the same call through the guard (key lookup, endpoint rules, the brake key
/// swapped for the secret, the decision recorded). Nothing accumulates between calls, so one guard serves the
/// whole run. The number of calls per iteration is fixed rather than found by a pilot stage, which a busy
/// moment on a small machine can mislead.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(BenchmarkConfig))]
[InvocationCount(CallsPerIteration)]
public class NonCostBearingGetBenchmarks
{
    /// <summary>Calls per iteration: a quarter of a second bare, under a second guarded, on a small machine.</summary>
    public const int CallsPerIteration = 262_144;

    private HttpClient _bare = null!;
    private KeybrakeGuard _guard = null!;
    private HttpClient _guarded = null!;

    [GlobalSetup]
    public void Setup()
    {
        StripeCalls.VerifyAllowedPath();
        _bare = new HttpClient(StubStripeHandler.Customer(), disposeHandler: true);
        _guard = StripeCalls.CreateGuard();
        _guarded = _guard.CreateHttpClient("stripe", StubStripeHandler.Customer());
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _bare.Dispose();
        _guarded.Dispose();
        _guard.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    [Benchmark(Baseline = true, Description = "GET customer, bare")]
    public Task<HttpStatusCode> Bare() => StripeCalls.GetCustomerAsync(_bare);

    [Benchmark(Description = "GET customer, guarded")]
    public Task<HttpStatusCode> Guarded() => StripeCalls.GetCustomerAsync(_guarded);
}
