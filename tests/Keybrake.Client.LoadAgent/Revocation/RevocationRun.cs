using System.Diagnostics;
using System.Globalization;
using Keybrake.Client.Central;
using Microsoft.Extensions.DependencyInjection;
using Stripe;

namespace Keybrake.Client.LoadAgent.Revocation;

/// <summary>
/// Revocation mode: once the key event stream is current, says "ready"; after "go", concurrent tasks call without
/// end (reads, and a charge every n-th call with --charge-every) until standard input says "stop" or closes. A line
/// "restoring n &lt;timestamp&gt;" tells the agent when the operator began restoring the key after its n-th
/// revocation, so it can tell calls allowed after the point from calls allowed after the restoration.
/// </summary>
internal static class RevocationRun
{
    private static readonly TimeSpan s_watchTimeout = TimeSpan.FromSeconds(60);

    /// <summary>Runs until told to stop; 0 when it did, 3 when standard input closed before the go, 4 when the key event stream never became current.</summary>
    public static async Task<int> RunAsync(IServiceProvider provider, StripeClient stripe, AgentArguments arguments, RevocationTracker tracker)
    {
        // The measurement is of the push: the process must have its watch open and current before anyone revokes.
        var ledger = provider.GetRequiredService<GrpcBudgetLedger>();
        var waiting = Stopwatch.GetTimestamp();
        while (!ledger.IsWatchingKeys)
        {
            if (Stopwatch.GetElapsedTime(waiting) > s_watchTimeout)
            {
                await Console.Error.WriteLineAsync($"The key event stream was not current within {s_watchTimeout}.");
                return 4;
            }

            await Task.Delay(20);
        }

        // Standard input is read on a thread of its own: Console.In blocks, and the tasks need the pool.
        var go = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!arguments.WaitForGo)
        {
            go.SetResult(true);
        }
        else
        {
            Console.WriteLine("ready");
        }

        var commands = Task.Factory.StartNew(() => ReadCommands(tracker, go), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        if (!await go.Task)
        {
            return 3; // whoever started the agent is gone
        }

        tracker.Start();
        using var stop = new CancellationTokenSource();
        var tasks = Enumerable.Range(0, arguments.Tasks).Select(task => Task.Run(() => CallAsync(stripe, arguments, task, stop.Token))).ToArray();
        await commands;
        await stop.CancelAsync();
        await Task.WhenAll(tasks);
        return 0;
    }

    /// <summary>"go" (when waited for), "restoring n &lt;timestamp&gt;", and "stop" or the end of input.</summary>
    private static void ReadCommands(RevocationTracker tracker, TaskCompletionSource<bool> go)
    {
        if (!go.Task.IsCompleted)
        {
            go.SetResult(Console.In.ReadLine() is not null);
        }

        while (Console.In.ReadLine() is { } line && line != "stop")
        {
            var parts = line.Split(' ');
            if (parts is ["restoring", var number, var timestamp]
                && int.TryParse(number, NumberStyles.None, CultureInfo.InvariantCulture, out var n)
                && long.TryParse(timestamp, NumberStyles.None, CultureInfo.InvariantCulture, out var at))
            {
                tracker.Restoring(n, at);
            }
            else
            {
                Console.Error.WriteLine($"unknown command '{line}'");
            }
        }
    }

    private static async Task CallAsync(StripeClient stripe, AgentArguments arguments, int task, CancellationToken stop)
    {
        const string DenialPrefix = "keybrake_";
        var customers = new CustomerService(stripe);
        var charges = new ChargeService(stripe);
        var random = new Random(unchecked((arguments.Seed * 10_007) + task));
        var caller = string.Create(CultureInfo.InvariantCulture, $"{Environment.ProcessId}-t{task}");
        var customer = string.Create(CultureInfo.InvariantCulture, $"cus_agent{Environment.ProcessId}t{task}");

        // Calls are never cancelled half-way: each one started is finished and counted; the stop is looked at between calls.
        for (var n = 0; !stop.IsCancellationRequested; n++)
        {
            var charge = arguments.ChargeEvery > 0 && n % arguments.ChargeEvery == arguments.ChargeEvery - 1;
            var pause = arguments.Pause;
            try
            {
                if (charge)
                {
                    await charges.CreateAsync(
                        new ChargeCreateOptions { Amount = random.NextInt64(arguments.MinCents, arguments.MaxCents + 1), Currency = "usd", Source = "tok_visa" },
                        new RequestOptions { IdempotencyKey = string.Create(CultureInfo.InvariantCulture, $"{caller}-c{n}") },
                        CancellationToken.None);
                }
                else
                {
                    await customers.GetAsync(customer, cancellationToken: CancellationToken.None);
                }
            }
            catch (StripeException denied) when (denied.StripeError?.Code?.StartsWith(DenialPrefix, StringComparison.Ordinal) == true)
            {
                pause = arguments.PauseAfterDenial; // denials cost nothing: without a pause, a task would spin
            }
            catch (Exception failed) when (failed is StripeException or HttpRequestException)
            {
                // Counted by the tracker; a stand-in that fails is not what this measures.
                pause = arguments.PauseAfterDenial;
            }

            if (pause > TimeSpan.Zero)
            {
                await Task.Delay(pause, CancellationToken.None);
            }
        }
    }
}
