using System.Net;
using BenchmarkDotNet.Attributes;

namespace Keybrake.Client.Benchmarks;

/// <summary>
/// A Resend email on the embedded ledger, <c>POST /emails</c> to two recipients with a fresh <c>Idempotency-Key</c>
/// per call, bare and guarded (JSON body read, recipient domains checked against an allowlist, price reserved
/// and settled). Set up like <see cref="ChargeBenchmarks"/>: a fresh guard and a fixed number of calls per
/// iteration, because the ledger keeps every idempotency key for 24 hours.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(BenchmarkConfig))]
[InvocationCount(ChargeBenchmarks.CallsPerIteration)]
public class EmailBenchmarks
{
    private KeybrakeGuard? _guard;
    private HttpClient _client = null!;

    [GlobalSetup]
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1822", Justification = "BenchmarkDotNet calls setups on the benchmark instance.")]
    public void Setup() => ResendCalls.VerifyAllowedPath();

    [IterationSetup(Target = nameof(Bare))]
    public void SetupBare() => _client = new HttpClient(StubResendHandler.Email(), disposeHandler: true);

    [IterationSetup(Target = nameof(Guarded))]
    public void SetupGuarded()
    {
        _guard = ResendCalls.CreateGuard();
        _client = _guard.CreateHttpClient("resend", StubResendHandler.Email());
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

    [Benchmark(Baseline = true, Description = "POST email, bare")]
    public Task<HttpStatusCode> Bare() => ResendCalls.SendEmailAsync(_client);

    [Benchmark(Description = "POST email, guarded")]
    public Task<HttpStatusCode> Guarded() => ResendCalls.SendEmailAsync(_client);
}
