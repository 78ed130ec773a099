using Keybrake.Client.TestUtilities.Logging;
using Keybrake.Client.TestUtilities.Stripe;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
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

    private readonly bool _ownsStub;

    private StripeGuardHost(StripeStub stub, bool ownsStub, ServiceProvider services, FakeTimeProvider time, CapturingLoggerProvider logs, RecordingAuditSink audit)
    {
        Stub = stub;
        _ownsStub = ownsStub;
        Services = services;
        Time = time;
        Logs = logs;
        Audit = audit;
    }

    public StripeStub Stub { get; }

    public ServiceProvider Services { get; }

    public FakeTimeProvider Time { get; }

    public CapturingLoggerProvider Logs { get; }

    public RecordingAuditSink Audit { get; }

    public StripeClient Stripe => Services.GetRequiredService<StripeClient>();

    public IKeybrakeAdmin Admin => Services.GetRequiredService<IKeybrakeAdmin>();

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
        var logs = new CapturingLoggerProvider();
        var audit = new RecordingAuditSink();
        var services = new ServiceCollection();
        services.AddLogging(logging => logging.SetMinimumLevel(LogLevel.Trace).AddProvider(logs));
        services.AddSingleton<TimeProvider>(time);
        services.AddKeybrake(o =>
            {
                o.AddKey(KeyId, key =>
                {
                    key.BrakeKey = BrakeKey;
                    key.Vendor = "stripe";
                    key.VendorSecret = VendorSecret;
                    key.VendorEndpoint = stub.Url; // the stand-in receives the secret in place of api.stripe.com
                    key.Policy.DailyCap = Usd.FromDollars(100);
                    policy?.Invoke(key.Policy);
                });
                o.AddKey(OtherKeyId, key =>
                {
                    key.BrakeKey = OtherBrakeKey;
                    key.Vendor = "stripe";
                    key.VendorSecret = VendorSecret;
                    key.VendorEndpoint = stub.Url; // the stand-in receives the secret in place of api.stripe.com
                    key.Policy.DailyCap = Usd.FromDollars(10_000);
                    key.Policy.LoopBreaker.MaxRepeats = 0;
                });
                options?.Invoke(o);
            })
            .AddAuditSink(audit)
            .AddStripe(stripe)
            .AddStripeClient(o =>
            {
                o.BrakeKey = BrakeKey;
                o.ApiBase = stub.Url;
            });

        return new StripeGuardHost(stub, ownsStub, services.BuildServiceProvider(), time, logs, audit);
    }

    public async ValueTask DisposeAsync()
    {
        await Services.DisposeAsync();
        if (_ownsStub)
        {
            Stub.Dispose();
        }
    }
}
