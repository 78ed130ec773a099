using Keybrake.Client.TestUtilities.Guard;
using Keybrake.Client.TestUtilities.Logging;
using Keybrake.Client.TestUtilities.Stripe;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Stripe;

namespace Keybrake.Client.Stripe.Tests;

/// <summary>
/// The real Stripe.net client, guarded by Keybrake on the embedded ledger, talking to a WireMock stand-in
/// for Stripe. One key ("refund-agent") with a $100 daily cap unless the test's policy says otherwise.
/// </summary>
internal sealed class StripeGuardHost : IAsyncDisposable
{
    public const string KeyId = "refund-agent";
    public const string BrakeKey = "vault_key_test_refund_agent_000000001";
    public const string VendorSecret = "sk_test_51RealStripeSecretThatMustNeverLeak";
    public const string OtherKeyId = "unrestricted";
    public const string OtherBrakeKey = "vault_key_test_unrestricted_0000000002";

    private readonly GuardTestHost _host;

    private StripeGuardHost(GuardTestHost host, StripeStub stub, FakeTimeProvider time)
    {
        _host = host;
        Stub = stub;
        Time = time;
    }

    public StripeStub Stub { get; }

    public ServiceProvider Services => _host.Services;

    public FakeTimeProvider Time { get; }

    public CapturingLoggerProvider Logs => _host.Logs;

    public RecordingAuditSink Audit => _host.Audit;

    public StripeClient Stripe => Services.GetRequiredService<StripeClient>();

    public IKeybrakeAdmin Admin => _host.Admin;

    /// <summary>An <see cref="HttpClient"/> with the same guard, for requests Stripe.net would never send.</summary>
    public HttpClient RawClient()
    {
        var client = Services.GetRequiredService<IHttpClientFactory>().CreateClient(KeybrakeStripeBuilderExtensions.HttpClientName);
        client.BaseAddress = new Uri(Stub.Url);
        client.DefaultRequestHeaders.Authorization = new("Bearer", BrakeKey);
        return client;
    }

    /// <summary>A Stripe.net client for the second key, which has no allowlists and a $10,000 cap.</summary>
    public StripeClient OtherStripe() =>
        new(new StripeClientOptions
        {
            ApiKey = OtherBrakeKey,
            ApiBase = Stub.Url,
            HttpClient = new SystemNetHttpClient(Services.GetRequiredService<IHttpClientFactory>().CreateClient(KeybrakeStripeBuilderExtensions.HttpClientName)),
        });

    public static StripeGuardHost Start(
        Action<KeybrakePolicyOptions>? policy = null,
        Action<KeybrakeOptions>? options = null,
        StripeStub? stub = null,
        DateTimeOffset? now = null,
        Action<KeybrakeStripeOptions>? stripe = null)
    {
        var ownsStub = stub is null;
        stub ??= StripeStub.Start();
        var time = new FakeTimeProvider(now ?? new DateTimeOffset(2026, 11, 28, 12, 0, 0, TimeSpan.Zero));
        var host = GuardTestHost.Start(
            [
                // The stand-in receives the secret in place of api.stripe.com.
                new GuardTestKey(KeyId, BrakeKey, "stripe", VendorSecret) { VendorEndpoint = stub.Url, DailyCap = Usd.FromDollars(100), Policy = policy },
                new GuardTestKey(OtherKeyId, OtherBrakeKey, "stripe", VendorSecret) { VendorEndpoint = stub.Url, DailyCap = Usd.FromDollars(10_000), LoopBreakerOff = true },
            ],
            options,
            keybrake => keybrake
                .AddStripe(stripe)
                .AddStripeClient(o =>
                {
                    o.BrakeKey = BrakeKey;
                    o.ApiBase = stub.Url;
                }),
            time,
            ownsStub ? [stub] : []);
        return new StripeGuardHost(host, stub, time);
    }

    public ValueTask DisposeAsync() => _host.DisposeAsync();
}
