using Keybrake.Client.TestUtilities;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Client.TestUtilities.Logging;
using Keybrake.Client.TestUtilities.Twilio;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Twilio.Clients;
using Twilio.Rest.Api.V2010.Account;
using Twilio.Types;

namespace Keybrake.Client.Twilio.Tests;

/// <summary>
/// Price reconciliation in central mode: of two guards with it on for the same key, one is elected through the budget
/// service and fetches the key's deferred messages (also those of a sender that has gone); the other does not poll
/// Twilio, and takes over when the holder stops.
/// </summary>
[NonParallelizable]
public sealed class ReconcilerElectionTests
{
    private const int Won = 230;
    private const int Lost = 231;

    [Test]
    public async Task One_guard_per_key_reconciles_and_the_other_takes_over_when_it_stops()
    {
        await using var context = await DeferredPriceAcrossProcessesTests.Context.StartAsync();

        // A message whose sender is gone: sent by another OS process, killed before anyone saw the price.
        string first;
        await using (var sender = await TwilioAgentProcess.StartAsync(context.Service.Address, context.Stub.Url, context.Folder))
        {
            first = await sender.SendAsync("Your order shipped");
            await context.WaitUntilDeferredAsync(first);
            await sender.KillAsync();
        }

        var one = CentralGuard.Start(context, "guard-one", reconcile: true);
        var two = CentralGuard.Start(context, "guard-two", reconcile: true);
        await using var disposeTwo = two;
        CentralGuard holder, other;
        await using (one)
        {
            var settled = await Poll.UntilAsync(context.TodayAsync, spend => spend.ReservedMicroUsd == 0);
            (holder, other) = one.Logged(Won) ? (one, two) : (two, one);
            await Poll.UntilAsync(() => other.Logged(Lost), lost => lost);
            Assert.Multiple(() =>
            {
                Assert.That((settled.SettledMicroUsd, settled.ReservedMicroUsd), Is.EqualTo((7_500L, 0L)), "settled at the price the elected guard fetched");
                Assert.That(holder.FetchesOf(first), Is.GreaterThanOrEqualTo(1));
                Assert.That(other.Logged(Won), Is.False, "only one guard is elected");
                Assert.That(other.FetchesOf(first), Is.Zero, "the guard not elected does not poll Twilio");
            });

            // The holder stops (one's "await using" ends here when it is the holder; otherwise two is stopped below).
            if (holder == two)
            {
                await two.DisposeAsync();
            }
        }

        // The other guard is elected once the holder gave the duty up (or its claim expired), and reconciles a message
        // sent after the handover by a guard that has gone since.
        await Poll.UntilAsync(() => other.Logged(Won), won => won);
        string second;
        await using (var gone = CentralGuard.Start(context, "sender", reconcile: false))
        {
            var message = await MessageResource.CreateAsync(
                new CreateMessageOptions(new PhoneNumber("+14155550199")) { From = new PhoneNumber(TwilioGuardHost.Sender), Body = "Your code is 4711" },
                gone.Twilio);
            second = message.Sid;
        }

        var final = await Poll.UntilAsync(context.TodayAsync, spend => spend.ReservedMicroUsd == 0 && spend.SettledMicroUsd == 15_000);
        Assert.Multiple(() =>
        {
            Assert.That(final.SettledMicroUsd, Is.EqualTo(15_000L));
            Assert.That(other.FetchesOf(second), Is.GreaterThanOrEqualTo(1), "the new holder fetched the message");
            Assert.That(other.FetchesOf(first), Is.Zero, "the first message was settled already, and is not fetched again");
        });
    }

    /// <summary>A guard in central mode in this process, with its own memory, logs and count of the requests it let through.</summary>
    private sealed class CentralGuard : IAsyncDisposable
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

        public static CentralGuard Start(DeferredPriceAcrossProcessesTests.Context context, string name, bool reconcile)
        {
            var logs = new CapturingLoggerProvider();
            var sent = new CountingHandler();
            var services = new ServiceCollection();
            services.AddLogging(logging => logging.SetMinimumLevel(LogLevel.Information).AddProvider(logs));
            services.AddKeybrake(o =>
                {
                    o.UseBudgetService(context.Service.Address);
                    o.BudgetService.ClientToken = BudgetServiceHost.ClientToken;
                    o.BudgetService.OutboxPath = Path.Combine(context.Folder, name + "-outbox.db");
                    o.BudgetService.ProcessName = name;
                    o.BudgetService.CallTimeout = TimeSpan.FromSeconds(5);
                    o.AddKey(TwilioGuardHost.KeyId, key =>
                    {
                        key.BrakeKey = TwilioGuardHost.BrakeKey;
                        key.Vendor = "twilio";
                        key.VendorSecret = TwilioGuardHost.AuthToken;
                    });
                })
                .AddTwilio(twilio =>
                {
                    twilio.PriceReconciliation.Enabled = reconcile;
                    twilio.PriceReconciliation.Delay = TimeSpan.FromSeconds(1);
                    twilio.PriceReconciliation.ElectionTtl = TimeSpan.FromSeconds(3);
                })
                .AddTwilioClient(TwilioGuardHost.AccountSid, TwilioGuardHost.BrakeKey);
            services.AddHttpClient(KeybrakeTwilioBuilderExtensions.HttpClientName)
                .ConfigurePrimaryHttpMessageHandler(() => new TwilioHostRewriteHandler(context.Stub.Url, new CountingHandler.Forwarder(sent)));
            var guard = new CentralGuard(services.BuildServiceProvider(), logs, sent);
            _ = guard.Twilio; // the guard is in use: it takes part in the election from now on
            return guard;
        }

        public bool Logged(int eventId) => Logs.Logs.Any(log => log.EventId.Id == eventId);

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
    private sealed class CountingHandler
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
}
