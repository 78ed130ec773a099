using System.Net;
using BenchmarkDotNet.Attributes;

namespace Keybrake.Client.Benchmarks;

/// <summary>
/// (b) A charge on the embedded ledger, <c>POST /v1/charges</c> with a fresh <c>Idempotency-Key</c> per call,
/// bare and guarded; (c) the same guarded charge with the JSON-lines audit file on; and, to show what keeping
/// reservations for de-duplication costs, the guarded charge without an <c>Idempotency-Key</c> (as Stripe.net
/// sends it with network retries off), whose reservation the ledger drops as soon as it is settled.
/// </summary>
/// <remarks>
/// The embedded ledger keeps every reservation that carries an idempotency key for 24 hours, so a retry can be
/// recognised. Millions of distinct keys would grow the ledger through the run and each iteration would measure
/// a bigger ledger than the last. So every iteration gets a new guard (built in <see cref="IterationSetupAttribute"/>,
/// outside the measurement) and a fixed number of calls: each iteration measures calls 1 to
/// <see cref="CallsPerIteration"/> of a fresh process-day, including the ledger's own growth over them. The
/// baseline gets a new client per iteration too, so both sides are set up alike.
/// </remarks>
[MemoryDiagnoser]
[Config(typeof(BenchmarkConfig))]
[InvocationCount(CallsPerIteration)]
public class ChargeBenchmarks
{
    /// <summary>Calls per iteration, each with its own reservation; also the ledger size an iteration ends at.</summary>
    public const int CallsPerIteration = 65_536;

    private string _auditDirectory = null!;
    private string? _auditFile;
    private KeybrakeGuard? _guard;
    private HttpClient _client = null!;

    [GlobalSetup]
    public void Setup()
    {
        _auditDirectory = Directory.CreateTempSubdirectory("keybrake-benchmarks-").FullName;
        StripeCalls.VerifyAllowedPath(Path.Combine(_auditDirectory, "verify.jsonl"));
    }

    [GlobalCleanup]
    public void Cleanup() => Directory.Delete(_auditDirectory, recursive: true);

    [IterationSetup(Target = nameof(Bare))]
    public void SetupBare() => _client = new HttpClient(StubStripeHandler.Charge(), disposeHandler: true);

    [IterationSetup(Target = nameof(Guarded))]
    public void SetupGuarded()
    {
        _guard = StripeCalls.CreateGuard();
        _client = _guard.CreateHttpClient("stripe", StubStripeHandler.Charge());
    }

    [IterationSetup(Target = nameof(GuardedWithoutIdempotencyKey))]
    public void SetupGuardedWithoutIdempotencyKey() => SetupGuarded();

    [IterationSetup(Target = nameof(GuardedWithAuditFile))]
    public void SetupGuardedWithAuditFile()
    {
        _auditFile = Path.Combine(_auditDirectory, $"audit-{Guid.NewGuid():N}.jsonl");
        _guard = StripeCalls.CreateGuard(_auditFile);
        _client = _guard.CreateHttpClient("stripe", StubStripeHandler.Charge());
    }

    [IterationCleanup]
    public void IterationCleanup()
    {
        _client.Dispose();
        if (_guard is not null)
        {
            // Flushes the audit queue to disk: outside the measurement, like the setup.
            _guard.DisposeAsync().AsTask().GetAwaiter().GetResult();
            _guard = null;
        }

        if (_auditFile is not null)
        {
            File.Delete(_auditFile);
            _auditFile = null;
        }
    }

    [Benchmark(Baseline = true, Description = "POST charge, bare")]
    public Task<HttpStatusCode> Bare() => StripeCalls.CreateChargeAsync(_client);

    [Benchmark(Description = "POST charge, guarded")]
    public Task<HttpStatusCode> Guarded() => StripeCalls.CreateChargeAsync(_client);

    [Benchmark(Description = "POST charge, guarded + audit file")]
    public Task<HttpStatusCode> GuardedWithAuditFile() => StripeCalls.CreateChargeAsync(_client);

    [Benchmark(Description = "POST charge, guarded, no Idempotency-Key")]
    public Task<HttpStatusCode> GuardedWithoutIdempotencyKey() => StripeCalls.CreateChargeAsync(_client, sendIdempotencyKey: false);
}
