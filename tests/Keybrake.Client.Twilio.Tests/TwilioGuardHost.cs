using Keybrake.Client.TestUtilities.Guard;
using Keybrake.Client.TestUtilities.Logging;
using Keybrake.Client.TestUtilities.Twilio;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Twilio.Clients;
using Twilio.Exceptions;
using Twilio.Rest.Api.V2010.Account;
using Twilio.Types;

namespace Keybrake.Client.Twilio.Tests;

/// <summary>
/// The real TwilioRestClient, guarded by Keybrake on the embedded ledger, talking to a WireMock stand-in for
/// Twilio. One key ("sms-agent") with a $1 daily cap unless the test's policy says otherwise.
/// </summary>
internal sealed class TwilioGuardHost : IAsyncDisposable
{
    public const string KeyId = "sms-agent";
    public const string BrakeKey = "vault_key_test_sms_agent_0000000001";
    public const string AuthToken = "9f8e7d6c5b4a39281706f5e4d3c2b1a0";
    public const string AccountSid = "AC0123456789abcdef0123456789abcdef";
    public const string Sender = "+14155550100";

    /// <summary>The shipped US rate: $0.0083 a segment.</summary>
    public static readonly Usd UsSegment = Usd.FromMicros(8_300);

    private readonly GuardTestHost _host;

    private TwilioGuardHost(GuardTestHost host, TwilioStub stub, FakeTimeProvider time, SentRequestLog pricingSent)
    {
        _host = host;
        PricingSent = pricingSent;
        Stub = stub;
        Time = time;
    }

    public TwilioStub Stub { get; }

    public ServiceProvider Services => _host.Services;

    public FakeTimeProvider Time { get; }

    public CapturingLoggerProvider Logs => _host.Logs;

    public RecordingAuditSink Audit => _host.Audit;

    /// <summary>The Pricing API requests as the guard sent them (address and credential), before the test handler redirected them.</summary>
    public SentRequestLog PricingSent { get; }

    public TwilioRestClient Twilio => Services.GetRequiredService<TwilioRestClient>();

    public IKeybrakeAdmin Admin => _host.Admin;

    /// <summary>An <see cref="HttpClient"/> with the same guard, for requests the Twilio SDK would never send.</summary>
    public HttpClient RawClient()
    {
        var client = Services.GetRequiredService<IHttpClientFactory>().CreateClient(KeybrakeTwilioBuilderExtensions.HttpClientName);
        client.BaseAddress = new Uri("https://api.twilio.com");
        client.DefaultRequestHeaders.Authorization = TwilioBasicAuthHeader(AccountSid, BrakeKey);
        return client;
    }

    public static System.Net.Http.Headers.AuthenticationHeaderValue TwilioBasicAuthHeader(string user, string password) =>
        new("Basic", Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"{user}:{password}")));

    /// <summary>
    /// A guard in central mode against <paramref name="serviceAddress"/>, with the test key and the service's test
    /// credentials, its outbox in <paramref name="folder"/>, and api.twilio.com rewritten to the stand-in.
    /// </summary>
    public static ServiceProvider CentralServices(Uri serviceAddress, TwilioStub stub, string folder)
    {
        var services = new ServiceCollection();
        services.AddKeybrake(o =>
            {
                o.AddKey(KeyId, key =>
                {
                    key.BrakeKey = BrakeKey;
                    key.Vendor = "twilio";
                    key.VendorSecret = AuthToken;
                });
            })
            .UseBudgetService(o =>
            {
                o.Address = serviceAddress;
                o.AdminToken = TestUtilities.BudgetService.BudgetServiceHost.AdminToken;
                o.ClientToken = TestUtilities.BudgetService.BudgetServiceHost.ClientToken;
                o.OutboxPath = Path.Combine(folder, "outbox.db");
            })
            .AddTwilioClient(AccountSid, BrakeKey);
        services.AddHttpClient(KeybrakeTwilioBuilderExtensions.HttpClientName)
            .ConfigurePrimaryHttpMessageHandler(() => new TwilioHostRewriteHandler(stub.Url));
        return services.BuildServiceProvider();
    }

    public static TwilioGuardHost Start(
        Action<KeybrakePolicyOptions>? policy = null,
        Action<KeybrakeOptions>? options = null,
        Action<KeybrakeTwilioOptions>? twilio = null,
        TwilioStub? stub = null,
        Action<KeybrakeKeyOptions>? key = null)
    {
        var ownsStub = stub is null;
        stub ??= TwilioStub.Start();
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 28, 12, 0, 0, TimeSpan.Zero));
        var pricingSent = new SentRequestLog();
        var host = GuardTestHost.Start(
            [new GuardTestKey(KeyId, BrakeKey, "twilio", AuthToken) { DailyCap = Usd.FromDollars(1), Policy = policy, Key = key }],
            options,
            keybrake =>
            {
                keybrake.AddTwilio(twilio).AddTwilioClient(AccountSid, BrakeKey);
                keybrake.Services.AddHttpClient(KeybrakeTwilioBuilderExtensions.HttpClientName)
                    .ConfigurePrimaryHttpMessageHandler(() => new TwilioHostRewriteHandler(stub.Url));
                keybrake.Services.AddHttpClient(TwilioPricingApi.HttpClientName)
                    .ConfigurePrimaryHttpMessageHandler(() => new SentRequestLog.Handler(pricingSent, new TwilioHostRewriteHandler(stub.Url)));
            },
            time,
            ownsStub ? [stub] : []);
        return new TwilioGuardHost(host, stub, time, pricingSent);
    }

    /// <summary>Sends an SMS through the guard; returns the message, or throws the SDK's ApiException.</summary>
    public Task<MessageResource> SendAsync(string body, string to = "+14155550199", string? from = Sender, IEnumerable<Uri>? media = null)
    {
        var options = new CreateMessageOptions(new PhoneNumber(to)) { Body = body };
        if (from is not null)
        {
            options.From = new PhoneNumber(from);
        }

        if (media is not null)
        {
            options.MediaUrl = [.. media];
        }

        return MessageResource.CreateAsync(options, Twilio);
    }

    /// <summary>Sends and returns the Keybrake reason when denied, or <see langword="null"/> when it went through.</summary>
    public async Task<string?> TrySendAsync(string body, string to = "+14155550199", string? from = Sender)
    {
        try
        {
            await SendAsync(body, to, from);
            return null;
        }
        catch (ApiException denied)
        {
            return TwilioErrorCodes.ReasonOf(denied.Message) ?? throw new InvalidOperationException("Twilio itself refused the message: " + denied.Message, denied);
        }
    }

    public ValueTask DisposeAsync() => _host.DisposeAsync();
}
