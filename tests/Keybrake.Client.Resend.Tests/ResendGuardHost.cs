using Keybrake.Client.Resend.Tests.Sdk;
using Keybrake.Client.TestUtilities.Guard;
using Keybrake.Client.TestUtilities.Logging;
using Keybrake.Client.TestUtilities.Resend;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace Keybrake.Client.Resend.Tests;

/// <summary>
/// An SDK-shaped Resend client, registered the way the SDK's <c>AddResend</c> registers its own (the typed client
/// "IResend") and guarded by <c>AddResendSdkGuard()</c> on the embedded ledger, talking to a WireMock stand-in for
/// Resend. One key ("mail-agent") with a $1.00 daily cap and the default price per email unless the test says otherwise.
/// </summary>
internal sealed class ResendGuardHost : IAsyncDisposable
{
    public const string KeyId = "mail-agent";
    public const string BrakeKey = "vault_key_test_mail_agent_00000000001";
    public const string VendorSecret = "re_RealResendSecretThatMustNeverLeak_123";

    private readonly GuardTestHost _host;

    private ResendGuardHost(GuardTestHost host, ResendStub stub, FakeTimeProvider time)
    {
        _host = host;
        Stub = stub;
        Time = time;
    }

    public ResendStub Stub { get; }

    public ServiceProvider Services => _host.Services;

    public FakeTimeProvider Time { get; }

    public CapturingLoggerProvider Logs => _host.Logs;

    public RecordingAuditSink Audit => _host.Audit;

    /// <summary>What the app's code gets from the container: the typed "IResend" client.</summary>
    public IResend Resend => Services.GetRequiredService<IResend>();

    public IKeybrakeAdmin Admin => _host.Admin;

    /// <summary>The "IResend" named client with the brake key, for requests the SDK would never send.</summary>
    public HttpClient RawClient()
    {
        var client = Services.GetRequiredService<IHttpClientFactory>().CreateClient(KeybrakeResendBuilderExtensions.ResendSdkClientName);
        client.BaseAddress = new Uri(Stub.Url);
        client.DefaultRequestHeaders.Authorization = new("Bearer", BrakeKey);
        return client;
    }

    public Task<SpendReport> SpendAsync() => Admin.GetDailySpendAsync(KeyId).AsTask();

    public static ResendGuardHost Start(
        Action<KeybrakePolicyOptions>? policy = null,
        Action<KeybrakeOptions>? options = null,
        Action<KeybrakeResendOptions>? resend = null)
    {
        var stub = ResendStub.Start();
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 28, 12, 0, 0, TimeSpan.Zero));
        var host = GuardTestHost.Start(
            // The stand-in receives the secret in place of api.resend.com.
            [new GuardTestKey(KeyId, BrakeKey, "resend", VendorSecret) { VendorEndpoint = stub.Url, DailyCap = Usd.FromDollars(1), Policy = policy }],
            options,
            keybrake =>
            {
                keybrake.AddResend(resend).AddResendSdkGuard();

                // What the Resend SDK's services.AddResend(o => ...) does: options, and a typed client named "IResend".
                keybrake.Services.Configure<ResendSdkOptions>(o =>
                {
                    o.ApiUrl = stub.Url;
                    o.ApiToken = BrakeKey;
                });
                keybrake.Services.AddHttpClient<IResend, ResendSdkShapedClient>();
            },
            time,
            stub);
        return new ResendGuardHost(host, stub, time);
    }

    public ValueTask DisposeAsync() => _host.DisposeAsync();
}
