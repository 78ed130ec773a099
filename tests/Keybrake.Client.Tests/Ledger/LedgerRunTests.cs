namespace Keybrake.Client.Tests;

public sealed class LedgerRunTests
{
    [Test]
    public async Task A_run_cap_limits_each_run_separately_and_leaves_calls_outside_a_run_alone()
    {
        using var harness = new LedgerHarness(policy => policy.RunCap = Usd.FromDollars(5));
        await harness.AuthorizeAsync(Usd.FromDollars(5), runId: "run_a");

        var overInRunA = await harness.AuthorizeAsync(Usd.FromCents(1), runId: "run_a");
        var inRunB = await harness.AuthorizeAsync(Usd.FromDollars(5), runId: "run_b");
        var outsideAnyRun = await harness.AuthorizeAsync(Usd.FromDollars(20));

        var runA = await harness.Admin.GetRunSpendAsync(LedgerHarness.KeyId, "run_a");
        Assert.Multiple(() =>
        {
            Assert.That(overInRunA.Denial!.Value.Reason, Is.EqualTo(ReasonCodes.RunCapExceeded));
            Assert.That(overInRunA.Denial.Value.Message, Does.Contain("run 'run_a'"));
            Assert.That(inRunB.Denial, Is.Null);
            Assert.That(outsideAnyRun.Denial, Is.Null);
            Assert.That(runA.Cap, Is.EqualTo(Usd.FromDollars(5)));
            Assert.That(runA.RunId, Is.EqualTo("run_a"));
            Assert.That(runA.Reserved, Is.EqualTo(Usd.FromDollars(5)));
            Assert.That(runA.Remaining, Is.EqualTo(Usd.Zero));
        });
    }

    [Test]
    public async Task The_daily_cap_still_applies_inside_a_run()
    {
        using var harness = new LedgerHarness(policy => policy.RunCap = Usd.FromDollars(500));

        await harness.AuthorizeAsync(Usd.FromDollars(90), runId: "run_a");
        var denied = await harness.AuthorizeAsync(Usd.FromDollars(20), runId: "run_a");

        Assert.That(denied.Denial!.Value.Reason, Is.EqualTo(ReasonCodes.DailyCapExceeded));
    }

    [Test]
    public async Task Without_a_run_cap_each_run_s_spend_is_still_counted()
    {
        using var harness = new LedgerHarness();
        var a1 = await harness.AuthorizeAsync(Usd.FromDollars(3), runId: "run_a");
        var a2 = await harness.AuthorizeAsync(Usd.FromDollars(4), runId: "run_a");
        var b1 = await harness.AuthorizeAsync(Usd.FromDollars(2), runId: "run_b");
        await harness.CommitAsync(a1.ReservationId!, Usd.FromDollars(3));
        await harness.CommitAsync(b1.ReservationId!, Usd.FromDollars(2));

        var runA = await harness.Admin.GetRunSpendAsync(LedgerHarness.KeyId, "run_a");
        var runB = await harness.Admin.GetRunSpendAsync(LedgerHarness.KeyId, "run_b");
        var unknownRun = await harness.Admin.GetRunSpendAsync(LedgerHarness.KeyId, "run_never_seen");
        Assert.Multiple(() =>
        {
            Assert.That(a2.Denial, Is.Null);
            Assert.That(runA.Settled, Is.EqualTo(Usd.FromDollars(3)));
            Assert.That(runA.Reserved, Is.EqualTo(Usd.FromDollars(4)));
            Assert.That(runA.Cap, Is.Null);
            Assert.That(runA.Remaining, Is.Null);
            Assert.That(runB.Settled, Is.EqualTo(Usd.FromDollars(2)));
            Assert.That(unknownRun.Committed, Is.EqualTo(Usd.Zero));
        });
    }

    [Test]
    public async Task Run_counters_are_per_key()
    {
        using var harness = new LedgerHarness(policy => policy.RunCap = Usd.FromDollars(5));
        await harness.AuthorizeAsync(Usd.FromDollars(5), runId: "run_a");

        var otherKeySameRun = await harness.AuthorizeAsync(Usd.FromDollars(50), runId: "run_a", keyId: LedgerHarness.OtherKeyId);

        var mine = await harness.Admin.GetRunSpendAsync(LedgerHarness.KeyId, "run_a");
        Assert.Multiple(() =>
        {
            Assert.That(otherKeySameRun.Denial, Is.Null, "the other key has no run cap");
            Assert.That(mine.Reserved, Is.EqualTo(Usd.FromDollars(5)));
        });
    }

    [Test]
    public void A_run_spend_report_needs_a_run_id()
    {
        using var harness = new LedgerHarness();

        Assert.ThrowsAsync<ArgumentException>(async () => await harness.Admin.GetRunSpendAsync(LedgerHarness.KeyId, string.Empty));
    }

    [Test]
    public async Task A_released_call_retried_in_another_run_is_counted_and_settled_in_the_retrying_run()
    {
        using var harness = new LedgerHarness();
        var first = await harness.AuthorizeAsync(Usd.FromDollars(5), runId: "run_a", idempotencyKey: "idem-1");
        await harness.ReleaseAsync(first.ReservationId!);

        var retry = await harness.AuthorizeAsync(Usd.FromDollars(5), runId: "run_b", idempotencyKey: "idem-1");
        await harness.CommitAsync(retry.ReservationId!, Usd.FromDollars(5));

        var runA = await harness.Admin.GetRunSpendAsync(LedgerHarness.KeyId, "run_a");
        var runB = await harness.Admin.GetRunSpendAsync(LedgerHarness.KeyId, "run_b");
        Assert.Multiple(() =>
        {
            Assert.That(runB.Settled, Is.EqualTo(Usd.FromDollars(5)));
            Assert.That(runB.Reserved, Is.EqualTo(Usd.Zero));
            Assert.That(runA.Settled, Is.EqualTo(Usd.Zero));
            Assert.That(runA.Reserved, Is.EqualTo(Usd.Zero));
        });
    }
}
