using System.Net.Http.Headers;
using Keybrake.Client.Central;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Client.TestUtilities.Guard;
using Keybrake.Client.TestUtilities.Logging;
using Microsoft.Extensions.DependencyInjection;

namespace Keybrake.Client.Tests;

/// <summary>
/// The guard in central mode, in a real <see cref="HttpClient"/> in front of <see cref="FakeVendorHandler"/>,
/// using a budget service at <see cref="Start"/>'s address. One key ("agent") whose cap is the service's: the
/// key sets no daily cap here. Its audit outbox is a file in a temporary folder of its own unless the test
/// shares one, and <see cref="Wire"/> sees every call to the service.
/// </summary>
internal sealed class CentralGuardHost : IAsyncDisposable
{
    public const string KeyId = "agent";
    public const string BrakeKey = "vault_key_test_agent_0000000000001";
    public const string VendorSecret = "tv_live_real_secret_that_must_never_leak";
    public const string ClientName = "guarded-testvendor";

    private readonly GuardTestHost _host;

    private CentralGuardHost(GuardTestHost host, FakeVendorHandler vendor, BudgetServiceWire wire, string outboxPath)
    {
        _host = host;
        Vendor = vendor;
        Wire = wire;
        OutboxPath = outboxPath;
    }

    public static Uri BaseAddress { get; } = new("https://api.testvendor.example/");

    public ServiceProvider Services => _host.Services;

    public FakeVendorHandler Vendor { get; }

    /// <summary>Every audit record the guard wrote, as the process saw them.</summary>
    public RecordingAuditSink Audit => _host.Audit;

    public CapturingLoggerProvider Logs => _host.Logs;

    public BudgetServiceWire Wire { get; }

    public string OutboxPath { get; }

    public IKeybrakeAdmin Admin => _host.Admin;

    public AuditOutbox Outbox => Services.GetRequiredService<AuditOutbox>();

    public GrpcBudgetLedger Ledger => Services.GetRequiredService<GrpcBudgetLedger>();

    /// <summary>A budget service with the key "agent" and its daily cap, in this process on a loopback port.</summary>
    public static Task<BudgetServiceHost> StartServiceAsync(string dailyCap = "100", string? directory = null, int port = 0) =>
        BudgetServiceHost.StartAsync(BudgetServiceHost.Key(KeyId, dailyCap, vendor: TestVendorProfile.Name), directory, port);

    /// <param name="service">The budget service's address.</param>
    /// <param name="policy">Changes to the key's policy.</param>
    /// <param name="options">Changes to the options.</param>
    /// <param name="time">The guard's clock; the system's unless given.</param>
    /// <param name="outboxPath">An outbox file to share with another host; a fresh one unless given.</param>
    /// <param name="replace">Registrations that replace the guard's own (after AddKeybrake).</param>
    /// <param name="budgetService">Changes to the budget service options (after the address is set).</param>
    public static CentralGuardHost Start(
        Uri service,
        Action<KeybrakePolicyOptions>? policy = null,
        Action<KeybrakeOptions>? options = null,
        TimeProvider? time = null,
        string? outboxPath = null,
        Action<IServiceCollection>? replace = null,
        Action<KeybrakeBudgetServiceOptions>? budgetService = null)
    {
        var ownedFolder = outboxPath is null ? Directory.CreateTempSubdirectory("keybrake-central-").FullName : null;
        outboxPath ??= Path.Combine(ownedFolder!, "outbox.db");
        var vendor = new FakeVendorHandler();
        var wire = new BudgetServiceWire();
        var key = new GuardTestKey(KeyId, BrakeKey, TestVendorProfile.Name, VendorSecret) { LoopBreakerOff = true, Policy = policy };
        var host = GuardTestHost.Start(
            [key],
            o =>
            {
                options?.Invoke(o);
            },
            keybrake =>
            {
                keybrake.UseBudgetService(o =>
                {
                    o.Address = service;
                    o.AdminToken = BudgetServiceHost.AdminToken;
                    o.ClientToken = BudgetServiceHost.ClientToken;
                    o.OutboxPath = outboxPath;

                    // A busy test machine must not look like an outage; the tests about deadlines set their own.
                    o.CallTimeout = TimeSpan.FromSeconds(5);
                    budgetService?.Invoke(o);
                });
                keybrake.AddVendor<TestVendorProfile>();
                keybrake.Services.AddHttpClient(BudgetServiceClients.BudgetName).AddHttpMessageHandler(wire.CreateHandler);
                keybrake.Services.AddHttpClient(ClientName)
                    .ConfigurePrimaryHttpMessageHandler(() => vendor)
                    .SetHandlerLifetime(Timeout.InfiniteTimeSpan)
                    .AddKeybrakeGuard(TestVendorProfile.Name);
                replace?.Invoke(keybrake.Services);
            },
            time,
            ownedFolder is null ? [] : [ownedFolder]);
        return new CentralGuardHost(host, vendor, wire, outboxPath);
    }

    /// <summary>A client carrying the brake key, as the vendor's SDK would be configured.</summary>
    public HttpClient Client()
    {
        var client = Services.GetRequiredService<IHttpClientFactory>().CreateClient(ClientName);
        client.BaseAddress = BaseAddress;
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", BrakeKey);
        return client;
    }

    /// <summary>The cost-bearing call: <c>POST /v1/spend</c> with <c>amount_cents</c>.</summary>
    public async Task<HttpResponseMessage> SpendAsync(long cents, string? idempotencyKey = null, CancellationToken cancellationToken = default)
    {
        using var client = Client();
        using var request = GuardHost.SpendRequest(cents, idempotencyKey);
        return await client.SendAsync(request, cancellationToken);
    }

    /// <summary>A call that costs nothing: <c>GET /v1/items/it_1</c>.</summary>
    public async Task<HttpResponseMessage> ReadAsync()
    {
        using var client = Client();
        return await client.GetAsync(new Uri("/v1/items/it_1", UriKind.Relative));
    }

    public ValueTask<SpendReport> TodayAsync() => Admin.GetDailySpendAsync(KeyId);

    /// <summary>The reason code a denial carries in its decision header; <see langword="null"/> for a call that was not denied.</summary>
    public static string? DecisionOf(HttpResponseMessage response) =>
        response.Headers.TryGetValues(KeybrakeHeaders.Decision, out var values) ? values.Single() : null;

    /// <summary>Today's spend once every settlement has reached the service (nothing reserved), or as it stands after a generous wait.</summary>
    public Task<SpendReport> SettledTodayAsync() =>
        TestUtilities.Poll.UntilAsync(async () => await TodayAsync(), spend => spend.Reserved == Usd.Zero);

    public ValueTask DisposeAsync() => _host.DisposeAsync();
}
