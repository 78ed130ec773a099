using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Client.TestUtilities.Logging;
using Keybrake.Client.TestUtilities.Twilio;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Twilio.Clients;
using Twilio.Rest.Api.V2010.Account;
using Twilio.Types;

namespace Keybrake.Client.Twilio.Tests;

/// <summary>A guard in central mode in this process, with its own memory, logs and count of the requests it let through.</summary>
internal sealed class CentralGuard : IAsyncDisposable
{
    private readonly CountingHandler _sent;
    private int _disposed;

    private CentralGuard(ServiceProvider services, CapturingLoggerProvider logs, CountingHandler sent)
    {
        Services = services;
        Logs = logs;
        _sent = sent;
    }

    public ServiceProvider Services { get; }

    public CapturingLoggerProvider Logs { get; }

    public TwilioRestClient Twilio => Services.GetRequiredService<TwilioRestClient>();

    public static CentralGuard Start(
        DeferredPriceAcrossProcessesTests.Context context,
        string name,
        bool reconcile,
        string keyId = TwilioGuardHost.KeyId,
        string brakeKey = TwilioGuardHost.BrakeKey,
        string clientToken = BudgetServiceHost.ClientToken,
        TimeSpan? electionTtl = null)
    {
        var logs = new CapturingLoggerProvider();
        var sent = new CountingHandler();
        var services = new ServiceCollection();
        services.AddLogging(logging => logging.SetMinimumLevel(LogLevel.Information).AddProvider(logs));
        services.AddKeybrake(o =>
            {
                o.AddKey(keyId, key =>
                {
                    key.BrakeKey = brakeKey;
                    key.Vendor = "twilio";
                    key.VendorSecret = TwilioGuardHost.AuthToken;
                });
            })
            .UseBudgetService(o =>
            {
                o.Address = context.Service.Address;
                o.ClientToken = clientToken;
                o.OutboxPath = Path.Combine(context.Folder, name + "-outbox.db");
                o.ProcessName = name;
                // Deadlines are not what these tests are about: a loaded 2-core machine can keep the service in the test
                // process from answering for several seconds.
                o.CallTimeout = TimeSpan.FromSeconds(30);
                o.TotalTimeout = TimeSpan.FromSeconds(30);
            })
            .AddTwilio(twilio =>
            {
                twilio.PriceReconciliation.Enabled = reconcile;
                twilio.PriceReconciliation.Delay = TimeSpan.FromSeconds(1);
                twilio.PriceReconciliation.ElectionTtl = electionTtl ?? TimeSpan.FromSeconds(3);
            })
            .AddTwilioClient(TwilioGuardHost.AccountSid, brakeKey);
        services.AddHttpClient(KeybrakeTwilioBuilderExtensions.HttpClientName)
            .ConfigurePrimaryHttpMessageHandler(() => new TwilioHostRewriteHandler(context.Stub.Url, new CountingHandler.Forwarder(sent)));
        var guard = new CentralGuard(services.BuildServiceProvider(), logs, sent);
        _ = guard.Twilio; // the guard is in use: it takes part in the election from now on
        return guard;
    }

    /// <summary>Sends an SMS through the guard; returns its SID.</summary>
    public async Task<string> SendAsync(string body) =>
        (await MessageResource.CreateAsync(
            new CreateMessageOptions(new PhoneNumber("+14155550199")) { From = new PhoneNumber(TwilioGuardHost.Sender), Body = body },
            Twilio)).Sid;

    /// <summary>Fetches a message through the guard; returns the price it showed.</summary>
    public async Task<string?> FetchAsync(string sid) =>
        (await MessageResource.FetchAsync(sid, client: Twilio)).Price?.ToString(System.Globalization.CultureInfo.InvariantCulture);

    public bool Logged(int eventId) => Logs.Logs.Any(log => log.EventId.Id == eventId);

    /// <summary>What the guard logged, one line each (event id, level, message, exception), for a failure message.</summary>
    public string Describe() =>
        string.Join('\n', Logs.Logs.Select(log => $"{log.EventId.Id} {log.Level}: {log.Message}{(log.Exception is null ? string.Empty : " (" + log.Exception + ")")}"));

    /// <summary>How many fetches of the message this guard let through to Twilio.</summary>
    public int FetchesOf(string sid) => _sent.Count(sid);

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            await Services.DisposeAsync();
        }
    }
}

/// <summary>Counts the GETs of each message that reach the network.</summary>
internal sealed class CountingHandler
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> _fetches = new(StringComparer.Ordinal);

    public int Count(string sid) => _fetches.GetValueOrDefault(sid);

    /// <summary>The primary handler: counts, then sends.</summary>
    public sealed class Forwarder(CountingHandler counts) : DelegatingHandler(new SocketsHttpHandler { AllowAutoRedirect = false })
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (request.Method == HttpMethod.Get && request.RequestUri is { } uri && uri.AbsolutePath.Contains("/Messages/", StringComparison.Ordinal))
            {
                counts._fetches.AddOrUpdate(Path.GetFileNameWithoutExtension(uri.AbsolutePath), 1, (_, n) => n + 1);
            }

            return base.SendAsync(request, cancellationToken);
        }
    }
}
