using Keybrake.Client.TestUtilities;

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
    private const int HandedOver = 232;
    private const int GaveUpAsItStopped = 227;

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

        // A TTL well above the check interval (1 s): a guard stalled for a few seconds on a loaded machine keeps its claim.
        // The handover below is the holder giving the duty up as it stops (the TTL is the fallback: A_holder_process_that_dies...).
        var ttl = TimeSpan.FromSeconds(10);
        // Both are disposed at the end; the holder alone is stopped below (CentralGuard's disposal is idempotent).
        await using var one = CentralGuard.Start(context, "guard-one", reconcile: true, electionTtl: ttl);
        await using var two = CentralGuard.Start(context, "guard-two", reconcile: true, electionTtl: ttl);
        var settled = await Poll.UntilAsync(context.TodayAsync, spend => spend.ReservedMicroUsd == 0);
        var (holder, other) = one.Logged(Won) ? (one, two) : (two, one);
        await Poll.UntilAsync(() => other.Logged(Lost), lost => lost);
        Assert.Multiple(() =>
        {
            Assert.That((settled.SettledMicroUsd, settled.ReservedMicroUsd), Is.EqualTo((7_500L, 0L)), "settled at the price the elected guard fetched");
            Assert.That(holder.FetchesOf(first), Is.GreaterThanOrEqualTo(1));
            Assert.That(other.Logged(Won), Is.False, "only one guard is elected");
            Assert.That(other.FetchesOf(first), Is.Zero, "the guard not elected does not poll Twilio");
        });

        // The holder stops, whichever guard it is; the other keeps running. (Stopping "one" by the end of a using block
        // also stopped the other guard whenever "two" had won: it could win and stop at once, and nobody reconciled.)
        await holder.DisposeAsync();
        var holderName = holder == one ? "guard-one/" : "guard-two/";
        var claimAfterStop = await context.HolderAsync(TwilioPriceReconciler.Duty);

        // The other guard is elected once the holder gave the duty up (or its claim expired), and reconciles a message
        // sent after the handover by a guard that has gone since.
        Assert.That(await Poll.UntilAsync(() => other.Logged(Won), won => won), Is.True, () => "the other guard was never elected:\n" + other.Describe());
        Assert.That(holder.Logged(HandedOver) || holder.Logged(GaveUpAsItStopped), Is.True, "the holder gave the duty up as it stopped, not only by its claim expiring");
        Assert.That(claimAfterStop, Does.Not.StartWith(holderName), () => "the stopped holder still has a claim at the service:\n" + holder.Describe());
        string second;
        var gone = CentralGuard.Start(context, "sender", reconcile: false);
        await using (gone)
        {
            second = await gone.SendAsync("Your code is 4711");
        }

        var final = await Poll.UntilAsync(context.TodayAsync, spend => spend.ReservedMicroUsd == 0 && spend.SettledMicroUsd == 15_000);
        Assert.Multiple(() =>
        {
            Assert.That(final.SettledMicroUsd, Is.EqualTo(15_000L), () => $"still reserved: {final.ReservedMicroUsd}; the new holder's log:\n{other.Describe()}\nthe sender's log (did its deferral reach the service before it stopped?):\n{gone.Describe()}");
            Assert.That(other.FetchesOf(second), Is.GreaterThanOrEqualTo(1), "the new holder fetched the message");
            Assert.That(other.FetchesOf(first), Is.Zero, "the first message was settled already, and is not fetched again");
        });
    }

    [Test]
    public async Task A_holder_process_that_dies_is_replaced_after_the_ttl()
    {
        await using var context = await DeferredPriceAcrossProcessesTests.Context.StartAsync();
        await using var holder = await TwilioAgentProcess.StartAsync(context.Service.Address, context.Stub.Url, context.Folder, "--reconcile-ttl-ms", "3000", "--process-name", "agent-one");
        await Poll.UntilAsync(() => context.HolderAsync(TwilioPriceReconciler.Duty), current => current.StartsWith("agent-one/", StringComparison.Ordinal));
        await using var guard = CentralGuard.Start(context, "guard-two", reconcile: true);
        await Poll.UntilAsync(() => guard.Logged(Lost), lost => lost);

        await holder.KillAsync(); // no chance to give the duty up: its claim has to expire
        string sid;
        await using (var gone = CentralGuard.Start(context, "sender", reconcile: false))
        {
            sid = await gone.SendAsync("Your order shipped");
        }

        await Poll.UntilAsync(() => guard.Logged(Won), won => won);
        var settled = await Poll.UntilAsync(context.TodayAsync, spend => spend.ReservedMicroUsd == 0);
        Assert.Multiple(() =>
        {
            Assert.That((settled.SettledMicroUsd, settled.ReservedMicroUsd), Is.EqualTo((7_500L, 0L)));
            Assert.That(guard.FetchesOf(sid), Is.GreaterThanOrEqualTo(1), "the guard that took over fetched the message");
        });
    }
}
