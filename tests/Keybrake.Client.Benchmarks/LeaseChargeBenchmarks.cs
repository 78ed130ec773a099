using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using BenchmarkDotNet.Attributes;
using Grpc.Net.Client;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Protocol;

namespace Keybrake.Client.Benchmarks;

/// <summary>
/// A Stripe charge (<c>POST /v1/charges</c>, USD 20.00, a fresh <c>Idempotency-Key</c>) answered by the in-process stub
/// handler (<see cref="StubStripeHandler"/>, no network hop behind the guard), in one run: bare; guarded on the embedded
/// ledger, without an audit trail and with its JSON-lines file (central mode always keeps one); and guarded in central
/// mode against the real budget service in this process on loopback (SQLite in a temporary folder), with the key's
/// policy saying <c>Lease:Enabled</c> false (every charge asks the service) and true (charges are decided on a slice of
/// the budget the service leased to the process).
/// </summary>
/// <remarks>
/// As in <see cref="BudgetServiceEndToEndBenchmarks"/>, every iteration of a guarded case gets its own guard (and in
/// central mode its own service), built outside the measurement, then <see cref="WarmUpCalls"/> unmeasured calls. After
/// each iteration, outside the measurement, the service must have settled USD 20.00 for every charge, and once the
/// guard has stopped (giving back what it leased) nothing may stay reserved: otherwise the run fails rather than report
/// the wrong path. Each central iteration also prints how many Authorize and Lease RPCs the service answered for its
/// charges (counted from the spans its telemetry interceptor starts), so the report shows whether the lease case
/// decided charges locally: until the guard leases, it measures the same path as the case without.
/// </remarks>
[MemoryDiagnoser]
[Config(typeof(BenchmarkConfig))]
[InvocationCount(CallsPerIteration)]
public class LeaseChargeBenchmarks
{
    /// <summary>Measured calls per iteration.</summary>
    public const int CallsPerIteration = 4_096;

    /// <summary>Unmeasured calls after each iteration's setup.</summary>
    public const int WarmUpCalls = 64;

    private static readonly TimeSpan s_settleWait = TimeSpan.FromSeconds(30);

    private readonly ConcurrentDictionary<string, long> _rpcs = new(StringComparer.Ordinal);
    private string _directory = null!;
    private ActivityListener? _listener;
    private BudgetServiceHost? _service;
    private KeybrakeGuard? _guard;
    private HttpClient? _client;
    private int _calls;

    [GlobalSetup]
    public void Setup()
    {
        _directory = Directory.CreateTempSubdirectory("keybrake-lease-benchmarks-").FullName;
        _listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Keybrake.BudgetService",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.PropagationData,
            ActivityStarted = activity => _rpcs.AddOrUpdate(activity.OperationName, 1, (_, n) => n + 1),
        };
        ActivitySource.AddActivityListener(_listener);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _listener?.Dispose();
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
        _client = new HttpClient(StubStripeHandler.Charge(), disposeHandler: true);
        WarmUp();
    }

    [IterationSetup(Target = nameof(GuardedEmbedded))]
    public void SetupEmbedded()
    {
        _guard = StripeCalls.CreateGuard();
        _client = _guard.CreateHttpClient("stripe", StubStripeHandler.Charge());
        WarmUp();
    }

    [IterationSetup(Target = nameof(GuardedEmbeddedAudited))]
    public void SetupEmbeddedAudited()
    {
        // The audit trail on, as central mode always has it: embedded mode queues each record for its JSON-lines file.
        _guard = StripeCalls.CreateGuard(Path.Combine(_directory, $"audit-{Guid.NewGuid():N}.jsonl"));
        _client = _guard.CreateHttpClient("stripe", StubStripeHandler.Charge());
        WarmUp();
    }

    [IterationSetup(Target = nameof(GuardedCentral))]
    public void SetupCentral() => SetupCentral(leasing: false);

    [IterationSetup(Target = nameof(GuardedCentralLease))]
    public void SetupCentralLease() => SetupCentral(leasing: true);

    [IterationCleanup]
    public void IterationCleanup()
    {
        var calls = WarmUpCalls + _calls;
        _calls = 0;
        try
        {
            if (_service is not null)
            {
                VerifySettledAndReturned(calls);
            }
        }
        finally
        {
            _client?.Dispose();
            _client = null;
            if (_guard is not null)
            {
                _guard.DisposeAsync().AsTask().GetAwaiter().GetResult();
                _guard = null;
            }

            if (_service is not null)
            {
                _service.DisposeAsync().AsTask().GetAwaiter().GetResult();
                _service = null;
            }
        }
    }

    [Benchmark(Baseline = true, Description = "POST charge to a stub handler, bare")]
    public Task<HttpStatusCode> Bare() => Charge();

    [Benchmark(Description = "POST charge, guarded, embedded ledger")]
    public Task<HttpStatusCode> GuardedEmbedded() => Charge();

    [Benchmark(Description = "POST charge, guarded, embedded ledger, audit file")]
    public Task<HttpStatusCode> GuardedEmbeddedAudited() => Charge();

    [Benchmark(Description = "POST charge, guarded, central mode, Lease:Enabled false")]
    public Task<HttpStatusCode> GuardedCentral() => Charge();

    [Benchmark(Description = "POST charge, guarded, central mode, Lease:Enabled true")]
    public Task<HttpStatusCode> GuardedCentralLease() => Charge();

    private Task<HttpStatusCode> Charge()
    {
        _calls++;
        return StripeCalls.CreateChargeAsync(_client!);
    }

    private void SetupCentral(bool leasing)
    {
        var settings = BudgetServiceHost.Key(StripeCalls.KeyId, "1000000000");
        settings[$"BudgetService:Keys:{StripeCalls.KeyId}:Policy:Lease:Enabled"] = leasing ? "true" : "false";
        _service = BudgetServiceHost.StartAsync(settings).GetAwaiter().GetResult();
        _guard = StripeCalls.CreateCentralGuard(_service.Address, Path.Combine(_directory, $"outbox-{Guid.NewGuid():N}.db"), stripeStandIn: null);
        _client = _guard.CreateHttpClient("stripe", StubStripeHandler.Charge());
        _rpcs.Clear();
        WarmUp();
    }

    private void WarmUp()
    {
        for (var i = 0; i < WarmUpCalls; i++)
        {
            var status = StripeCalls.CreateChargeAsync(_client!).GetAwaiter().GetResult();
            if (status != HttpStatusCode.OK)
            {
                throw new InvalidOperationException($"A warm-up charge was answered {(int)status}: the benchmark would not measure allowed charges.");
            }
        }
    }

    /// <summary>
    /// Every charge settled at USD 20.00 at the service; with the guard stopped (its leases given back), nothing
    /// reserved. Prints the RPCs the service answered per charge, so the report shows which path was measured.
    /// </summary>
    private void VerifySettledAndReturned(int calls)
    {
        using var channel = GrpcChannel.ForAddress(_service!.Address);
        var admin = BudgetServiceHost.AdminClient(channel);
        var expected = 20_000_000L * calls;
        var deadline = DateTime.UtcNow + s_settleWait;
        SpendReply spend;
        while ((spend = admin.GetDailySpend(new DailySpendRequest { KeyId = StripeCalls.KeyId })).SettledMicroUsd != expected)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException($"The budget service settled {spend.SettledMicroUsd} micro-USD; {calls} allowed charges should have settled {expected}.");
            }

            Thread.Sleep(50);
        }

        Console.WriteLine($"// {calls} charges: {_rpcs.GetValueOrDefault("Budget/Authorize")} Authorize RPCs, {_rpcs.GetValueOrDefault("Budget/Lease")} Lease RPCs, {_rpcs.GetValueOrDefault("Budget/Settle")} Settle RPCs");
        _guard!.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _guard = null;
        spend = admin.GetDailySpend(new DailySpendRequest { KeyId = StripeCalls.KeyId });
        if (spend.ReservedMicroUsd != 0)
        {
            throw new InvalidOperationException($"{spend.ReservedMicroUsd} micro-USD stayed reserved after the guard stopped: it did not give back what it leased.");
        }
    }
}
