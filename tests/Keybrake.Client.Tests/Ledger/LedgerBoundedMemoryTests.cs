namespace Keybrake.Client.Tests;

/// <summary>
/// A long-lived process's embedded ledger stays bounded: a million calls over many days and runs on a fake
/// clock leave only the counters of the retained days and of the runs still in use. (They used to be kept
/// forever, and made for denied calls too.) Counts of live entries, not timings.
/// </summary>
public sealed class LedgerBoundedMemoryTests
{
    private const int Calls = 1_000_000;
    private const int CallsPerRun = 500;

    [Test]
    public async Task A_million_calls_over_many_days_and_runs_leave_only_the_retained_counters()
    {
        using var harness = new LedgerHarness(policy =>
        {
            policy.DailyCap = Usd.FromDollars(1_000_000);
            policy.RunCap = Usd.FromDollars(1_000);
        });
        var mostSeen = (Days: 0, Runs: 0);
        var (lastDay, callsToday) = (default(DateOnly), 0);
        for (var call = 0; call < Calls; call++)
        {
            // A minute a call: about 694 days, 2,000 runs of about 8 hours each.
            harness.Time.Advance(TimeSpan.FromMinutes(1));
            var day = DateOnly.FromDateTime(harness.Time.GetUtcNow().UtcDateTime);
            (lastDay, callsToday) = day == lastDay ? (day, callsToday + 1) : (day, 1);
            var run = $"run_{call / CallsPerRun}";
            var result = await harness.AuthorizeAsync(Usd.FromCents(1), runId: run, idempotencyKey: $"call_{call}", hash: (ulong)call);
            await harness.Ledger.SettleAsync([new Settlement(result.ReservationId!, SettlementKind.Commit, Usd.FromCents(1))], CancellationToken.None);
            var live = harness.Ledger.CounterCount;
            mostSeen = (Math.Max(mostSeen.Days, live.Days), Math.Max(mostSeen.Runs, live.Runs));
        }

        var today = await harness.Admin.GetDailySpendAsync(LedgerHarness.KeyId);
        Assert.Multiple(() =>
        {
            // Retained days, the slack day, today, and an hour's sweep interval at most.
            Assert.That(mostSeen.Days, Is.LessThanOrEqualTo(EmbeddedBudgetLedger.RetainedDays + 3));

            // Runs of the last day (three of eight hours), and those idle less than a day.
            Assert.That(mostSeen.Runs, Is.LessThanOrEqualTo(8));
            Assert.That(today.Settled, Is.EqualTo(Usd.FromCents(callsToday)), "today's spend is all there");
        });
    }

    [Test]
    public async Task Denied_calls_create_no_counters()
    {
        using var harness = new LedgerHarness(policy => policy.RunCap = Usd.FromDollars(1));
        var before = harness.Ledger.CounterCount;

        // Over the daily cap ($100) and over the run cap ($1): a thousand distinct runs, all denied.
        for (var run = 0; run < 1_000; run++)
        {
            var overDay = await harness.AuthorizeAsync(Usd.FromDollars(101), runId: $"denied_{run}");
            Assert.That(overDay.Denial!.Value.Reason, Is.EqualTo(ReasonCodes.DailyCapExceeded));
            var overRun = await harness.AuthorizeAsync(Usd.FromDollars(2), runId: $"denied_{run}");
            Assert.That(overRun.Denial!.Value.Reason, Is.EqualTo(ReasonCodes.RunCapExceeded));
        }

        Assert.Multiple(() =>
        {
            Assert.That(before, Is.EqualTo((0, 0)));
            Assert.That(harness.Ledger.CounterCount, Is.EqualTo((0, 0)));
        });
    }

    [Test]
    public async Task A_day_with_a_pending_reservation_is_kept_past_the_retention()
    {
        using var harness = new LedgerHarness();
        var held = await harness.AuthorizeAsync(Usd.FromDollars(5), runId: "held_run");
        harness.Time.Advance(TimeSpan.FromDays(EmbeddedBudgetLedger.RetainedDays + 5));
        for (var i = 0; i < 2_000; i++)
        {
            await harness.AuthorizeAsync(Usd.Zero, runId: $"later_{i}");
        }

        await harness.Ledger.SettleAsync([new Settlement(held.ReservationId!, SettlementKind.Commit, Usd.FromDollars(4))], CancellationToken.None);
        var run = await harness.Admin.GetRunSpendAsync(LedgerHarness.KeyId, "held_run");
        Assert.That(run.Settled, Is.EqualTo(Usd.FromDollars(4)), "the held run's counter was kept while its reservation was pending");
    }
}
