using System.Globalization;
using Keybrake.Client;
using Keybrake.Client.LoadAgent;
using Keybrake.Client.LoadAgent.Revocation;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http;
using Microsoft.Extensions.Logging;
using Stripe;

// An agent process for the tests that need several OS processes: concurrent tasks making Stripe charges through
// the real Stripe.net client, guarded by Keybrake in central mode. It prints one JSON summary line on stdout
// (after "ready" with --wait-for-go), disposes its services (which flushes settlements and the audit outbox),
// and exits 0; 2 for bad arguments, 3 when standard input closes before the go. Before charging it makes one read through the guard, counted as a warm-up.
// With --mode revocation it calls until told to stop and reports what it saw of revocations (Revocation/RevocationRun.cs).
AgentArguments arguments;
try
{
    arguments = AgentArguments.Parse(args);
}
catch (Exception exception) when (exception is ArgumentException or FormatException or OverflowException)
{
    await Console.Error.WriteLineAsync(exception.Message);
    await Console.Error.WriteLineAsync(AgentArguments.Usage);
    return 2;
}

var services = new ServiceCollection();
services.AddLogging(logging => logging.AddProvider(new StandardErrorLoggerProvider(arguments.LogLevel)));
services.AddKeybrake(options =>
    {
        options.AddKey(arguments.KeyId, key =>
        {
            key.BrakeKey = arguments.BrakeKey;
            key.Vendor = "stripe";
            key.VendorSecret = arguments.Secret;
            key.VendorEndpoint = arguments.StubStripe ? null : arguments.Stripe; // the stand-in, in place of api.stripe.com

            // Amounts repeat across many charges; the loop breaker would take them for a loop.
            key.Policy.LoopBreaker.MaxRepeats = 0;
        });
    })
    .UseBudgetService(options =>
    {
        if (arguments.Services.Count > 1)
        {
            foreach (var replica in arguments.Services)
            {
                options.Addresses.Add(replica);
            }
        }
        else
        {
            options.Address = arguments.Service;
        }

        options.ClientTokenFile = arguments.ClientTokenFile;
        options.OutboxPath = arguments.Outbox;
        if (arguments.CallTimeout is { } timeout)
        {
            options.CallTimeout = timeout;
        }

        if (arguments.TotalTimeout is { } total)
        {
            options.TotalTimeout = total;
        }
    })
    .AddStripeClient(options =>
    {
        options.BrakeKey = arguments.BrakeKey;
        if (!arguments.StubStripe)
        {
            options.ApiBase = arguments.Stripe;
        }

        if (arguments.Mode == AgentMode.Revocation)
        {
            options.MaxNetworkRetries = 0; // one pass through the guard per call, so each call is timed once
        }
    });

if (arguments.StubStripe)
{
    // The guard's innermost handler answers in this process: no network hop behind the guard, so what is measured is
    // the guard and the budget service.
    services.Configure<HttpClientFactoryOptions>(KeybrakeStripeBuilderExtensions.HttpClientName, options => options.HttpMessageHandlerBuilderActions.Add(handlers =>
        handlers.PrimaryHandler = new InProcessStripe()));
}

RevocationTracker? tracker = null;
if (arguments.Mode == AgentMode.Revocation)
{
    // Timers on both sides of the guard: in front, every call and the guard's answer; behind, the calls it let through.
    var revocations = new RevocationTracker(Console.Out);
    var passage = new AsyncLocal<GuardPassage?>();
    services.Configure<HttpClientFactoryOptions>(KeybrakeStripeBuilderExtensions.HttpClientName, options => options.HttpMessageHandlerBuilderActions.Add(handlers =>
    {
        handlers.AdditionalHandlers.Insert(0, new GuardEntryTimer(revocations, passage));
        handlers.PrimaryHandler = new VendorSendTimer(passage) { InnerHandler = handlers.PrimaryHandler };
    }));
    tracker = revocations;
}

var summary = new AgentSummary();
await using (var provider = services.BuildServiceProvider())
{
    if (arguments.Mode == AgentMode.OutboxWrites)
    {
        return await OutboxWriteRun.RunAsync(provider, arguments);
    }

    // --guard none: the same Stripe.net client and in-process stub with no guard at all, the baseline a load harness
    // measures the guarded agents against in the same run.
    using var bare = arguments.Unguarded ? new HttpClient(new InProcessStripe(), disposeHandler: true) : null;
    var stripe = bare is null
        ? provider.GetRequiredService<StripeClient>()
        : new StripeClient(arguments.Secret.Length > 0 ? arguments.Secret : "sk_test_load_agent", httpClient: new SystemNetHttpClient(bare));
    await WarmUpAsync(stripe, summary);
    if (tracker is not null)
    {
        if (await RevocationRun.RunAsync(provider, stripe, arguments, tracker) is var code and not 0)
        {
            return code;
        }
    }
    else if (arguments.WaitForGo)
    {
        Console.WriteLine("ready");
        if (await Console.In.ReadLineAsync() is null)
        {
            return 3; // whoever started the agent is gone: no one to charge for
        }
    }

    if (tracker is null)
    {
        // With --until-stop, the tasks charge until a line on stdin (or its end) says stop.
        using var stop = new CancellationTokenSource();
        var stopRead = arguments.UntilStop ? StopOnInputAsync(stop, summary) : Task.CompletedTask;
        using (arguments.RunId is { } runId ? KeybrakeRun.Begin(runId) : default)
        {
            var tasks = Enumerable.Range(0, arguments.Tasks).Select(task => Task.Run(() => ChargeAsync(stripe, arguments, task, summary, stop.Token)));
            await Task.WhenAll(tasks);
        }

        await stopRead;
    }
}

// After the services are disposed: settlements and audit records are with the service by the time this is read.
Console.WriteLine(tracker?.ToJson() ?? summary.ToJson(arguments.RunId));
return 0;

// A read through the guard (outside any run) before the charges, so that connections are up (the read asks the
// service for the key's state and policy, and opens the key event stream) and most of the code is compiled when
// the agents start together. (It used to begin with an admin call, which the service now refuses without the
// admin token: the read never ran.)
static async Task WarmUpAsync(StripeClient stripe, AgentSummary summary)
{
    try
    {
        await new CustomerService(stripe).GetAsync("cus_warm_up");
        summary.WarmedUp();
    }
    catch (Exception exception) when (exception is StripeException or HttpRequestException)
    {
        await Console.Error.WriteLineAsync($"warm-up: {exception.Message}");
    }
}

// Console.In reads synchronously, even through ReadLineAsync: on a thread of its own, so the charges run meanwhile.
// A line "mark" is answered with "mark <allowed charges so far>" (a load harness times a window between two marks);
// any other line, or the end of the input, stops the charges.
static Task StopOnInputAsync(CancellationTokenSource stop, AgentSummary summary) => Task.Run(async () =>
{
    while (await Console.In.ReadLineAsync() == "mark")
    {
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"mark {summary.AllowedSoFar}"));
    }

    await stop.CancelAsync();
});

static async Task ChargeAsync(StripeClient stripe, AgentArguments arguments, int task, AgentSummary summary, CancellationToken stop)
{
    const string DenialPrefix = "keybrake_";
    var random = new Random(unchecked((arguments.Seed * 10_007) + task));
    var charges = new ChargeService(stripe);
    var caller = arguments.RunId ?? Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
    for (var n = 0; n < arguments.MaxCharges && (arguments.UntilStop || arguments.Charges is null || n < arguments.Charges) && !stop.IsCancellationRequested; n++)
    {
        var cents = random.NextInt64(arguments.MinCents, arguments.MaxCents + 1);
        try
        {
            var charge = new ChargeCreateOptions { Amount = cents, Currency = "usd", Source = "tok_visa" };
            if (arguments.StampStart)
            {
                // The same machine's clock as the test's: it tells calls begun after an operator's change from those before.
                charge.Metadata = new() { ["started_us"] = ((TimeProvider.System.GetUtcNow() - DateTimeOffset.UnixEpoch).Ticks / 10).ToString(CultureInfo.InvariantCulture) };
            }

            await charges.CreateAsync(
                charge,
                new RequestOptions { IdempotencyKey = $"{caller}-t{task}-c{n}" },
                CancellationToken.None); // a stop ends the loop between charges, never a charge under way
            summary.Allowed(cents);
            if (arguments.UntilStop && arguments.Pause > TimeSpan.Zero)
            {
                await Task.Delay(arguments.Pause, CancellationToken.None);
            }
        }
        catch (StripeException denied) when (denied.StripeError?.Code is { } code && code.StartsWith(DenialPrefix, StringComparison.Ordinal))
        {
            var reason = code[DenialPrefix.Length..];
            summary.Denied(reason);
            if (!arguments.UntilStop && arguments.Charges is null && (arguments.StopOn is null || arguments.StopOn == reason))
            {
                return;
            }

            await Task.Delay(arguments.PauseAfterDenial, CancellationToken.None);
        }
        catch (StripeException failed)
        {
            summary.Failed("stripe_" + (failed.StripeError?.Code ?? ((int)failed.HttpStatusCode).ToString(CultureInfo.InvariantCulture)));
            return;
        }
        catch (HttpRequestException failed)
        {
            summary.Failed(failed.GetType().Name);
            return;
        }
    }
}
