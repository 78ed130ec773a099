using System.Net.Http.Headers;
using System.Text;
using Keybrake.Client.TestUtilities.Guard;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace Keybrake.Client.Tests;

/// <summary>
/// The guard on the embedded ledger in a real <see cref="HttpClient"/> from <see cref="IHttpClientFactory"/>,
/// in front of <see cref="FakeVendorHandler"/>. One key ("agent") with a $100 daily cap and the loop breaker
/// off, unless the test's policy says otherwise.
/// </summary>
internal sealed class GuardHost : IAsyncDisposable
{
    public const string KeyId = "agent";
    public const string BrakeKey = "vault_key_test_agent_0000000000001";
    public const string VendorSecret = "tv_live_real_secret_that_must_never_leak";
    public const string ClientName = "guarded-testvendor";

    private readonly GuardTestHost _host;

    private GuardHost(GuardTestHost host, FakeVendorHandler vendor, FakeTimeProvider time)
    {
        _host = host;
        Vendor = vendor;
        Time = time;
    }

    public static Uri BaseAddress { get; } = new("https://api.testvendor.example/");

    public ServiceProvider Services => _host.Services;

    public FakeVendorHandler Vendor { get; }

    public FakeTimeProvider Time { get; }

    public RecordingAuditSink Audit => _host.Audit;

    public IKeybrakeAdmin Admin => _host.Admin;

    public static GuardHost Start(
        Action<KeybrakePolicyOptions>? policy = null,
        Action<KeybrakeOptions>? options = null,
        int guards = 1,
        Func<DelegatingHandler>? outerHandler = null) =>
        Start<TestVendorProfile>(TestVendorProfile.Name, policy, options, guards, outerHandler);

    /// <param name="vendorName">The vendor <typeparamref name="TProfile"/> stands for.</param>
    /// <param name="policy">Changes to the key's policy.</param>
    /// <param name="options">Changes to the options.</param>
    /// <param name="guards">How many times the guard is added to the client.</param>
    /// <param name="outerHandler">A handler placed outside (before) the guard, such as a retry handler.</param>
    public static GuardHost Start<TProfile>(
        string vendorName,
        Action<KeybrakePolicyOptions>? policy = null,
        Action<KeybrakeOptions>? options = null,
        int guards = 1,
        Func<DelegatingHandler>? outerHandler = null)
        where TProfile : VendorProfile
    {
        var vendor = new FakeVendorHandler();
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 3, 10, 12, 0, 0, TimeSpan.Zero));
        var key = new GuardTestKey(KeyId, BrakeKey, vendorName, VendorSecret) { DailyCap = Usd.FromDollars(100), LoopBreakerOff = true, Policy = policy };
        var host = GuardTestHost.Start([key], options, keybrake =>
        {
            keybrake.AddVendor<TProfile>();
            var client = keybrake.Services.AddHttpClient(ClientName)
                .ConfigurePrimaryHttpMessageHandler(() => vendor)
                .SetHandlerLifetime(Timeout.InfiniteTimeSpan);
            if (outerHandler is not null)
            {
                client.AddHttpMessageHandler(outerHandler);
            }

            for (var i = 0; i < guards; i++)
            {
                client.AddKeybrakeGuard(vendorName);
            }
        }, time);
        return new GuardHost(host, vendor, time);
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
    public async Task<HttpResponseMessage> SpendAsync(long cents, string? idempotencyKey = null, string? extraFields = null)
    {
        using var client = Client();
        using var request = SpendRequest(cents, idempotencyKey, extraFields);
        return await client.SendAsync(request);
    }

    public static HttpRequestMessage SpendRequest(long cents, string? idempotencyKey = null, string? extraFields = null)
    {
        var body = $"amount_cents={cents}{(extraFields is null ? string.Empty : "&" + extraFields)}";
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/spend")
        {
            Content = new StringContent(body, Encoding.UTF8, "application/x-www-form-urlencoded"),
        };
        if (idempotencyKey is not null)
        {
            request.Headers.Add("Idempotency-Key", idempotencyKey);
        }

        return request;
    }

    public ValueTask<SpendReport> TodayAsync() => Admin.GetDailySpendAsync(KeyId);

    public ValueTask DisposeAsync() => _host.DisposeAsync();
}
