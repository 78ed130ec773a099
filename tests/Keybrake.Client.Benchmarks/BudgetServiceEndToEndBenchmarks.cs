using System.Diagnostics;
using System.Net;
using System.Runtime;
using BenchmarkDotNet.Attributes;
using Keybrake.Client.Central;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Client.TestUtilities.Stripe;
using Keybrake.Client.TestUtilities.Tls;
using Microsoft.Extensions.DependencyInjection;

namespace Keybrake.Client.Benchmarks;

/// <summary>
/// The end-to-end cost of the guard in central mode on a Stripe charge: <c>POST /v1/charges</c> with a fresh
/// <c>Idempotency-Key</c> per call, over real loopback sockets to the WireMock stand-in for Stripe
/// (<see cref="StripeStub"/>), through a bare <see cref="HttpClient"/> and through the guard with the real budget
/// service running in this process (<see cref="BudgetServiceHost"/>, SQLite in a temporary folder). The guard
/// presents a client credential on every call to the service, which listens either on cleartext HTTP/2 (h2c) or with
/// TLS (a certificate signed by a CA made for the run, which the guard trusts through <c>CaCertificatePath</c>): the
/// two guarded benchmarks differ only in that, so the difference between them is what TLS costs a charge.
/// </summary>
/// <remarks>
/// <para>
/// Everything a charge leaves behind grows through a run: the service keeps the reservation, the charge object
/// and the audit record of every call (SQLite tables and their indexes), the guard's outbox file takes every
/// record before it is shipped, and the stand-in keeps every request in WireMock's log and every charge it made.
/// Measured on one long-lived set, each iteration would measure bigger tables, logs and heaps than the last. So,
/// as for the embedded ledger, every iteration gets its own: a new stand-in, and for the guarded side a new
/// service (fresh file) and a new guard (fresh outbox), built in <see cref="IterationSetupAttribute"/> outside the
/// measurement, then <see cref="WarmUpCalls"/> unmeasured calls so that connections are open (HTTP/1.1 to the
/// stand-in, HTTP/2 to the service) and the first-call work is done. Each iteration then measures a fixed
/// <see cref="CallsPerIteration"/> calls. The bare baseline gets a new stand-in and client per iteration too.
/// </para>
/// <para>
/// Before BenchmarkDotNet's own warm-up, each side runs on one set-up until the JIT has settled (see
/// <see cref="WarmUpUntilJitSettles"/>). After that and after each iteration, outside the measurement, the
/// stand-in must have answered every call (a denied call never reaches it) and, in central mode, the service must
/// have settled USD 20.00 for each and the outbox must be empty: otherwise the run fails rather than report the
/// cost of the wrong path. (Waiting for the outbox to be shipped also means the guard is never disposed in the
/// middle of a ship.)
/// </para>
/// <para>
/// The allocation column counts every thread of the process (BenchmarkDotNet reads the process-wide counter), so
/// it includes what the stand-in and, on the guarded side, the service allocate: it is not the guard's alone.
/// </para>
/// </remarks>
[MemoryDiagnoser]
[Config(typeof(BenchmarkConfig))]
[InvocationCount(CallsPerIteration)]
public class BudgetServiceEndToEndBenchmarks
{
    /// <summary>Measured calls per iteration.</summary>
    public const int CallsPerIteration = 1_024;

    /// <summary>Unmeasured calls after each iteration's setup.</summary>
    public const int WarmUpCalls = 64;

    private static readonly TimeSpan s_settleWait = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan s_maxJitWarmUp = TimeSpan.FromMinutes(1);

    private string _directory = null!;
    private TestCertificates? _certificates;
    private StripeStub? _stub;
    private BudgetServiceHost? _service;
    private KeybrakeGuard? _guard;
    private HttpClient? _client;
    private Uri _charges = null!;
    private int _calls;

    [GlobalSetup(Target = nameof(Bare))]
    public void SetupBareRun()
    {
        _directory = Directory.CreateTempSubdirectory("keybrake-central-benchmarks-").FullName;
        WarmUpUntilJitSettles(SetupBare);
    }

    /// <summary>Also the check that the guarded charges take the allowed path: the warm-up ends with the same checks as an iteration.</summary>
    [GlobalSetup(Target = nameof(GuardedCentral))]
    public void SetupGuardedRun()
    {
        _directory = Directory.CreateTempSubdirectory("keybrake-central-benchmarks-").FullName;
        WarmUpUntilJitSettles(SetupGuarded);
    }

    [GlobalSetup(Target = nameof(GuardedCentralTls))]
    public void SetupGuardedTlsRun()
    {
        _directory = Directory.CreateTempSubdirectory("keybrake-central-benchmarks-").FullName;
        _certificates = TestCertificates.Create("Keybrake benchmark CA");
        WarmUpUntilJitSettles(SetupGuardedTls);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _certificates?.Dispose();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // a file still held open: the temp folder is cleaned by the system
        }
    }

    [IterationSetup(Target = nameof(Bare))]
    public void SetupBare()
    {
        StartStub();
        _client = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) }, disposeHandler: true);
        WarmUp();
    }

    [IterationSetup(Target = nameof(GuardedCentral))]
    public void SetupGuarded()
    {
        StartStub();
        _service = BudgetServiceHost.StartAsync(BudgetServiceHost.Key(StripeCalls.KeyId, "1000000000")).GetAwaiter().GetResult();
        _guard = StripeCalls.CreateCentralGuard(_service.Address, Path.Combine(_directory, $"outbox-{Guid.NewGuid():N}.db"), _stub!.Url);

        // The guard's default inner handler: a pooled SocketsHttpHandler, as the bare client's.
        _client = _guard.CreateHttpClient("stripe");
        WarmUp();
    }

    [IterationSetup(Target = nameof(GuardedCentralTls))]
    public void SetupGuardedTls()
    {
        StartStub();
        var settings = BudgetServiceHost.Key(StripeCalls.KeyId, "1000000000");
        foreach (var (name, value) in _certificates!.ServiceSettings())
        {
            settings[name] = value;
        }

        _service = BudgetServiceHost.StartAsync(settings).GetAwaiter().GetResult();
        if (_service.Address.Scheme != Uri.UriSchemeHttps)
        {
            throw new InvalidOperationException($"The service listens on {_service.Address}, not with TLS: the benchmark would measure cleartext.");
        }

        _guard = StripeCalls.CreateCentralGuard(_service.Address, Path.Combine(_directory, $"outbox-{Guid.NewGuid():N}.db"), _stub!.Url, _certificates.CaPath);
        _client = _guard.CreateHttpClient("stripe");
        WarmUp();
    }

    [IterationCleanup]
    public void IterationCleanup()
    {
        var calls = WarmUpCalls + _calls;
        _calls = 0;
        try
        {
            var received = _stub!.Received.Count(r => r.Method == "POST" && r.Status == 200);
            if (received != calls)
            {
                throw new InvalidOperationException($"The Stripe stand-in answered {received} of {calls} charges: the benchmark measured something other than allowed charges.");
            }

            if (_guard is not null)
            {
                VerifySettled(_guard, calls);
                WaitForOutboxShipped(_guard);
            }
        }
        finally
        {
            _client?.Dispose();
            _client = null;
            if (_guard is not null)
            {
                // Drains the settlements and ships the outbox: outside the measurement, like the setup.
                _guard.DisposeAsync().AsTask().GetAwaiter().GetResult();
                _guard = null;
            }

            if (_service is not null)
            {
                _service.DisposeAsync().AsTask().GetAwaiter().GetResult();
                _service = null;
            }

            _stub?.Dispose();
            _stub = null;
        }
    }

    [Benchmark(Baseline = true, Description = "POST charge to WireMock, bare")]
    public Task<HttpStatusCode> Bare()
    {
        _calls++;
        return StripeCalls.CreateChargeAsync(_client!, _charges);
    }

    [Benchmark(Description = "POST charge to WireMock, guarded, central mode")]
    public Task<HttpStatusCode> GuardedCentral()
    {
        _calls++;
        return StripeCalls.CreateChargeAsync(_client!, _charges);
    }

    [Benchmark(Description = "POST charge to WireMock, guarded, central mode, TLS")]
    public Task<HttpStatusCode> GuardedCentralTls()
    {
        _calls++;
        return StripeCalls.CreateChargeAsync(_client!, _charges);
    }

    /// <summary>
    /// Tiered compilation keeps recompiling the hot paths of Kestrel, gRPC, WireMock and SQLite for many seconds
    /// (tens of seconds on a busy machine), longer than BenchmarkDotNet's warm-up iterations last here. Before
    /// them, calls are made on one set-up for as long as it takes three one-second steps in a row to spend under 1%
    /// of their time in the JIT (at most a minute), so that no iteration measures the compiler.
    /// </summary>
    private void WarmUpUntilJitSettles(Action setup)
    {
        setup();
        try
        {
            var started = Stopwatch.GetTimestamp();
            var quietInARow = 0;
            while (quietInARow < 3 && Stopwatch.GetElapsedTime(started) < s_maxJitWarmUp)
            {
                var compiledBefore = JitInfo.GetCompilationTime(currentThread: false);
                var stepStarted = Stopwatch.GetTimestamp();
                do
                {
                    _calls++;
                    StripeCalls.CreateChargeAsync(_client!, _charges).GetAwaiter().GetResult();
                }
                while (Stopwatch.GetElapsedTime(stepStarted) < TimeSpan.FromSeconds(1));

                var compiling = JitInfo.GetCompilationTime(currentThread: false) - compiledBefore;
                quietInARow = compiling <= Stopwatch.GetElapsedTime(stepStarted) / 100 ? quietInARow + 1 : 0;
            }
        }
        finally
        {
            IterationCleanup();
        }
    }

    private void StartStub()
    {
        _stub = StripeStub.Start();
        _charges = new Uri(_stub.Url + "/v1/charges");
    }

    private void WarmUp()
    {
        for (var i = 0; i < WarmUpCalls; i++)
        {
            var status = StripeCalls.CreateChargeAsync(_client!, _charges).GetAwaiter().GetResult();
            if (status != HttpStatusCode.OK)
            {
                throw new InvalidOperationException($"A warm-up charge was answered {(int)status}: the benchmark would not measure allowed charges.");
            }
        }
    }

    /// <summary>
    /// Audit records are shipped off the request path: waits (outside the measurement) until the outbox is empty,
    /// so that the guard is disposed between ships rather than in the middle of one.
    /// </summary>
    private static void WaitForOutboxShipped(KeybrakeGuard guard)
    {
        var outbox = guard.Services.GetRequiredService<AuditOutbox>();
        var deadline = DateTime.UtcNow + s_settleWait;
        while (outbox.Count() > 0)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException($"{outbox.Count()} audit records are still in the outbox: the service is not taking them.");
            }

            Thread.Sleep(50);
        }
    }

    /// <summary>Settlements are sent off the request path, in batches: waits (outside the measurement) until the service has them all.</summary>
    private static void VerifySettled(KeybrakeGuard guard, int calls)
    {
        var expected = Usd.FromDollars(20L * calls);
        var deadline = DateTime.UtcNow + s_settleWait;
        while (true)
        {
            var spend = guard.Admin.GetDailySpendAsync(StripeCalls.KeyId).AsTask().GetAwaiter().GetResult();
            if (spend.Settled == expected && spend.Reserved == Usd.Zero)
            {
                return;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException($"The budget service settled {spend.Settled} with {spend.Reserved} still reserved; {calls} allowed charges should have settled {expected}.");
            }

            Thread.Sleep(50);
        }
    }
}
