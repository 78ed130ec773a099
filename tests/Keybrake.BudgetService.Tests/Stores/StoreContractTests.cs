using Keybrake.BudgetService.Alerts;
using Keybrake.BudgetService.Clients;
using Keybrake.BudgetService.Store;
using static Keybrake.BudgetService.Tests.Stores.StoreCalls;

namespace Keybrake.BudgetService.Tests.Stores;

/// <summary>
/// What every store engine must do, with the same semantics: one subclass per engine opens a fresh store for each test.
/// The service-level test classes (Authorize, Settle, Idempotency, Concurrency, ...) also run on both engines.
/// </summary>
public abstract partial class StoreContractTests
{
    private readonly List<StoreUnderTest> _opened = [];

    /// <summary>A fresh, migrated store for one test (a new SQLite file, or a new PostgreSQL database).</summary>
    private protected abstract Task<StoreUnderTest> OpenFreshAsync();

    private protected async Task<StoreUnderTest> OpenAsync()
    {
        var store = await OpenFreshAsync();
        _opened.Add(store);
        return store;
    }

    [TearDown]
    public async Task CloseStoresAsync()
    {
        foreach (var store in _opened)
        {
            await store.DisposeAsync();
        }

        _opened.Clear();
    }

    [Test]
    public async Task Sixty_four_concurrent_authorizations_on_one_key_never_reserve_past_the_cap()
    {
        var store = (await OpenAsync()).Budget;
        var random = new Random(64);
        var amounts = Enumerable.Range(0, 64 * 4).Select(_ => random.Next(1, 501) / 100m).ToArray(); // $0.01 to $5.00, about $640 in all

        // 64 callers at once, each sending its share of the calls one after another.
        var outcomes = await Task.WhenAll(Enumerable.Range(0, 64).Select(caller => Task.Run(async () =>
        {
            var mine = new List<(AuthorizeOutcome Outcome, long Amount)>();
            for (var i = caller; i < amounts.Length; i += 64)
            {
                mine.Add((await store.AuthorizeAsync(Authorize("agent", amounts[i], dailyCap: 100), CancellationToken.None), Dollars(amounts[i])));
            }

            return mine;
        })));

        var all = outcomes.SelectMany(o => o).ToList();
        var allowed = all.Where(x => x.Outcome.Allowed).ToList();
        var total = allowed.Sum(x => x.Amount);
        var day = await store.DayAsync("agent");
        var unsettled = await store.ListUnsettledAsync("agent", CancellationToken.None);
        Assert.Multiple(() =>
        {
            Assert.That(allowed, Is.Not.Empty);
            Assert.That(all.Where(x => !x.Outcome.Allowed).Select(x => x.Outcome.Status), Is.Not.Empty.And.All.EqualTo(AuthorizeStatus.DailyCapExceeded));
            Assert.That(total, Is.LessThanOrEqualTo(Dollars(100)));
            Assert.That((day.SettledMicroUsd, day.ReservedMicroUsd), Is.EqualTo((0L, total)), "the counter holds exactly the allowed estimates");
            Assert.That(unsettled, Has.Count.EqualTo(allowed.Count));
            Assert.That(allowed.Select(x => x.Outcome.ReservationId).Distinct().Count(), Is.EqualTo(allowed.Count));
            Assert.That(all.Where(x => !x.Outcome.Allowed).Select(x => x.Amount), Is.All.GreaterThan(Dollars(100) - total), "denied only what did not fit");
        });
    }

    [Test]
    public async Task Concurrent_calls_in_one_run_never_reserve_past_the_run_cap_and_the_day_counts_them_too()
    {
        var store = (await OpenAsync()).Budget;
        var random = new Random(7411);
        var amounts = Enumerable.Range(0, 64).Select(_ => random.Next(100, 301) / 100m).ToArray();

        var outcomes = await Task.WhenAll(amounts.Select(amount => Task.Run(() => store.AuthorizeAsync(Authorize("agent", amount, dailyCap: 1000, runId: "run-1", runCap: 20), CancellationToken.None).AsTask())));

        var total = outcomes.Select((o, i) => o.Allowed ? Dollars(amounts[i]) : 0).Sum();
        var run = await store.GetRunSpendAsync("agent", "run-1", CancellationToken.None);
        var day = await store.DayAsync("agent");
        Assert.Multiple(() =>
        {
            Assert.That(total, Is.LessThanOrEqualTo(Dollars(20)).And.GreaterThan(Dollars(17)));
            Assert.That(run.ReservedMicroUsd, Is.EqualTo(total));
            Assert.That(day.ReservedMicroUsd, Is.EqualTo(total), "a call the run refused left nothing on the day");
            Assert.That(outcomes.Where(o => !o.Allowed).Select(o => o.Status), Is.Not.Empty.And.All.EqualTo(AuthorizeStatus.RunCapExceeded));
        });
    }

    [Test]
    public async Task Denials_report_what_already_counts_and_reserve_nothing()
    {
        var store = (await OpenAsync()).Budget;
        await store.AuthorizeAsync(Authorize("agent", 60, dailyCap: 100), CancellationToken.None);
        await store.AuthorizeAsync(Authorize("agent", 20, dailyCap: 100, runId: "run-1", runCap: 25), CancellationToken.None);

        var overDay = await store.AuthorizeAsync(Authorize("agent", 20.01m, dailyCap: 100), CancellationToken.None);
        var overRun = await store.AuthorizeAsync(Authorize("agent", 10, dailyCap: 100, runId: "run-1", runCap: 25), CancellationToken.None);
        var overCapAlone = await store.AuthorizeAsync(Authorize("other", 101, dailyCap: 100), CancellationToken.None);
        var free = await store.AuthorizeAsync(Authorize("agent", 0, dailyCap: 80), CancellationToken.None);

        var day = await store.DayAsync("agent");
        var run = await store.GetRunSpendAsync("agent", "run-1", CancellationToken.None);
        Assert.Multiple(() =>
        {
            Assert.That((overDay.Status, overDay.ReservationId, overDay.DaySpentMicroUsd), Is.EqualTo((AuthorizeStatus.DailyCapExceeded, (string?)null, Dollars(80))));
            Assert.That((overRun.Status, overRun.DaySpentMicroUsd, overRun.RunSpentMicroUsd), Is.EqualTo((AuthorizeStatus.RunCapExceeded, Dollars(80), Dollars(20))));
            Assert.That((overCapAlone.Status, overCapAlone.DaySpentMicroUsd), Is.EqualTo((AuthorizeStatus.DailyCapExceeded, 0L)));
            Assert.That((free.Status, free.DaySpentMicroUsd), Is.EqualTo((AuthorizeStatus.Reserved, Dollars(80))), "a call that costs nothing fits a spent cap");
            Assert.That((day.ReservedMicroUsd, run.ReservedMicroUsd), Is.EqualTo((Dollars(80), Dollars(20))));
        });
    }

    [Test]
    public async Task A_retry_gets_the_first_answer_and_a_reused_idempotency_key_is_refused()
    {
        var store = (await OpenAsync()).Budget;
        var call = Authorize("agent", 10, dailyCap: 100, idempotencyKey: "idem-1");
        var first = await store.AuthorizeAsync(call, CancellationToken.None);

        var retry = await store.AuthorizeAsync(call with { ReservationId = "rsv_retry" }, CancellationToken.None);
        var otherRequest = await store.AuthorizeAsync(call with { ReservationId = "rsv_other", RequestHash = 2 }, CancellationToken.None);
        await store.SettleAsync(Commit(first.ReservationId!, 8));
        var afterCommit = await store.AuthorizeAsync(call with { ReservationId = "rsv_late" }, CancellationToken.None);

        var released = await store.AuthorizeAsync(Authorize("agent", 5, dailyCap: 100, idempotencyKey: "idem-2"), CancellationToken.None);
        await store.SettleAsync(Release(released.ReservationId!));
        var again = await store.AuthorizeAsync(Authorize("agent", 5, dailyCap: 100, idempotencyKey: "idem-2") with { ReservationId = "rsv_again" }, CancellationToken.None);
        var lateRelease = await store.SettleAsync(Release(released.ReservationId!));

        var day = await store.DayAsync("agent");
        Assert.Multiple(() =>
        {
            Assert.That((retry.Status, retry.ReservationId), Is.EqualTo((AuthorizeStatus.ReusedPending, first.ReservationId)));
            Assert.That((otherRequest.Status, otherRequest.ReservationId), Is.EqualTo((AuthorizeStatus.IdempotencyKeyReused, first.ReservationId)));
            Assert.That((afterCommit.Status, afterCommit.ReservationId), Is.EqualTo((AuthorizeStatus.ReusedSettled, first.ReservationId)));
            Assert.That((again.Status, again.ReservationId), Is.EqualTo((AuthorizeStatus.Reserved, "rsv_again")), "a released call reserves again, under a new id");
            Assert.That(lateRelease.Status, Is.EqualTo(SettleStatus.NotPending), "a late duplicate of the release does not release the new reservation");
            Assert.That((day.SettledMicroUsd, day.ReservedMicroUsd), Is.EqualTo((Dollars(8), Dollars(5))));
        });
    }

    [Test]
    public async Task Concurrent_retries_of_one_call_reserve_it_once()
    {
        var store = (await OpenAsync()).Budget;
        var call = Authorize("agent", 7, dailyCap: 100, idempotencyKey: "idem-hot");

        var outcomes = await Task.WhenAll(Enumerable.Range(0, 64).Select(i => Task.Run(() => store.AuthorizeAsync(call with { ReservationId = $"rsv_{i}" }, CancellationToken.None).AsTask())));

        var day = await store.DayAsync("agent");
        Assert.Multiple(() =>
        {
            Assert.That(outcomes.Count(o => o.Status == AuthorizeStatus.Reserved), Is.EqualTo(1));
            Assert.That(outcomes.Count(o => o.Status == AuthorizeStatus.ReusedPending), Is.EqualTo(63));
            Assert.That(outcomes.Select(o => o.ReservationId).Distinct().Count(), Is.EqualTo(1));
            Assert.That(day.ReservedMicroUsd, Is.EqualTo(Dollars(7)));
        });
    }

    [Test]
    public async Task Settling_moves_the_estimate_to_the_actual_cost_once_and_only_for_keys_in_scope()
    {
        var store = (await OpenAsync()).Budget;
        var commit = await store.AuthorizeAsync(Authorize("agent", 10, dailyCap: 100, runId: "run-1"), CancellationToken.None);
        var release = await store.AuthorizeAsync(Authorize("agent", 20, dailyCap: 100, runId: "run-1"), CancellationToken.None);
        var foreign = await store.AuthorizeAsync(Authorize("other", 5, dailyCap: 100), CancellationToken.None);

        var results = await store.SettleAsync(
            [Commit(commit.ReservationId!, 7.5m), Release(release.ReservationId!), Commit(foreign.ReservationId!, 5), Commit("rsv_unknown", 1)],
            key => key == "agent",
            Noon,
            _ => new KeyCaps(Dollars(100), null),
            CancellationToken.None);
        var twice = await store.SettleAsync(Commit(commit.ReservationId!, 7.5m));

        var day = await store.DayAsync("agent");
        var run = await store.GetRunSpendAsync("agent", "run-1", CancellationToken.None);
        var other = await store.DayAsync("other");
        Assert.Multiple(() =>
        {
            Assert.That(results.Select(r => r.Status), Is.EqualTo(new[] { SettleStatus.Settled, SettleStatus.Settled, SettleStatus.OutOfScope, SettleStatus.NotPending }));
            Assert.That((results[0].KeyId, results[0].EstimateMicroUsd), Is.EqualTo(("agent", Dollars(10))));
            Assert.That(twice.Status, Is.EqualTo(SettleStatus.NotPending));
            Assert.That((day.SettledMicroUsd, day.ReservedMicroUsd), Is.EqualTo((Dollars(7.5m), 0L)));
            Assert.That((run.SettledMicroUsd, run.ReservedMicroUsd), Is.EqualTo((Dollars(7.5m), 0L)));
            Assert.That((other.SettledMicroUsd, other.ReservedMicroUsd), Is.EqualTo((0L, Dollars(5))), "out of scope: untouched");
        });
    }

    [Test]
    public async Task A_commit_far_above_its_estimate_is_held_for_an_operator_who_resolves_it()
    {
        var store = (await OpenAsync()).Budget;
        var reserved = await store.AuthorizeAsync(Authorize("agent", 2, dailyCap: 100), CancellationToken.None);
        var other = await store.AuthorizeAsync(Authorize("agent", 3, dailyCap: 100), CancellationToken.None);

        var held = await store.SettleAsync(Commit(reserved.ReservationId!, 50)); // above 10 x $2 + $1
        var retried = await store.SettleAsync(Commit(reserved.ReservationId!, 2));
        var listed = await store.ListUnsettledAsync(null, CancellationToken.None);
        var resolved = await store.ResolveAsync(reserved.ReservationId!, Dollars(50));
        var released = await store.ResolveAsync(other.ReservationId!, null);
        var tooLarge = await store.AuthorizeAsync(Authorize("agent", 1, dailyCap: 1000), CancellationToken.None);
        var huge = await store.ResolveAsync(tooLarge.ReservationId!, BookLimits.MaxAmountMicroUsd, dailyCap: 1000);

        var day = await store.DayAsync("agent");
        Assert.Multiple(() =>
        {
            Assert.That(held.Status, Is.EqualTo(SettleStatus.Held));
            Assert.That(retried.Status, Is.EqualTo(SettleStatus.NotPending), "a held reservation waits for the operator");
            Assert.That(listed.Select(r => (r.ReservationId, r.HeldActualMicroUsd)), Is.EquivalentTo(new[] { (reserved.ReservationId, (long?)Dollars(50)), (other.ReservationId, null) }));
            Assert.That((resolved, released), Is.EqualTo((SettleStatus.Settled, SettleStatus.Settled)));
            Assert.That(huge, Is.EqualTo(SettleStatus.Settled), "the counters' bound is far above the largest amount");
            Assert.That(day.SettledMicroUsd, Is.EqualTo(Dollars(50) + BookLimits.MaxAmountMicroUsd));
            Assert.That(day.ReservedMicroUsd, Is.Zero);
        });
    }

    [Test]
    public async Task Settlements_racing_authorizations_keep_the_counters_exact()
    {
        var store = (await OpenAsync()).Budget;
        var random = new Random(42);
        var calls = Enumerable.Range(0, 128).Select(_ => (estimate: random.Next(1, 1001) / 100m, share: random.Next(0, 101), release: random.Next(4) == 0)).ToArray();

        var costs = await Task.WhenAll(calls.Select(call => Task.Run(async () =>
        {
            var outcome = await store.AuthorizeAsync(Authorize("agent", call.estimate, dailyCap: 100, runId: "run-1"), CancellationToken.None);
            if (!outcome.Allowed)
            {
                return 0L;
            }

            var actual = decimal.Round(call.estimate * call.share / 100, 6);
            var result = await store.SettleAsync(call.release ? Release(outcome.ReservationId!) : Commit(outcome.ReservationId!, actual));
            Assert.That(result.Status, Is.EqualTo(SettleStatus.Settled));
            return call.release ? 0 : Dollars(actual);
        })));

        var day = await store.DayAsync("agent");
        var run = await store.GetRunSpendAsync("agent", "run-1", CancellationToken.None);
        Assert.Multiple(() =>
        {
            Assert.That((day.SettledMicroUsd, day.ReservedMicroUsd), Is.EqualTo((costs.Sum(), 0L)));
            Assert.That((run.SettledMicroUsd, run.ReservedMicroUsd), Is.EqualTo((costs.Sum(), 0L)));
            Assert.That(day.SettledMicroUsd, Is.LessThanOrEqualTo(Dollars(100)));
        });
    }

    [Test]
    public async Task A_revoked_key_is_refused_until_it_is_restored()
    {
        var store = (await OpenAsync()).Budget;
        await store.SetRevokedAsync("agent", true, Noon, CancellationToken.None);

        var refused = await store.AuthorizeAsync(Authorize("agent", 1, dailyCap: 100), CancellationToken.None);
        var revoked = await store.GetRevokedAsync(["agent", "other"], CancellationToken.None);
        await store.SetRevokedAsync("agent", false, Noon, CancellationToken.None);
        var allowed = await store.AuthorizeAsync(Authorize("agent", 1, dailyCap: 100), CancellationToken.None);
        var afterRestore = await store.GetRevokedAsync(["agent"], CancellationToken.None);

        Assert.Multiple(() =>
        {
            Assert.That((refused.Status, refused.ReservationId), Is.EqualTo((AuthorizeStatus.Revoked, (string?)null)));
            Assert.That(revoked, Is.EquivalentTo(new[] { "agent" }));
            Assert.That(allowed.Status, Is.EqualTo(AuthorizeStatus.Reserved));
            Assert.That(afterRestore, Is.Empty);
        });
    }

    [Test]
    public async Task Vendor_objects_are_remembered_per_key_and_a_later_version_replaces_one()
    {
        var store = (await OpenAsync()).Budget;
        var charge = new StoredObject("ch_1", "charge", "cus_1", null, "usd", 5000, 0);
        await store.RememberObjectsAsync("agent", "stripe", [charge, new StoredObject("ch_2", "charge", null, "acct_1", "jpy", 300, 0)], Noon, CancellationToken.None);
        await store.RememberObjectsAsync("agent", "stripe", [charge with { AmountReturned = 2000 }], Noon, CancellationToken.None);

        var found = await store.FindObjectAsync("agent", "stripe", "ch_1", CancellationToken.None);
        var second = await store.FindObjectAsync("agent", "stripe", "ch_2", CancellationToken.None);
        var otherKey = await store.FindObjectAsync("other", "stripe", "ch_1", CancellationToken.None);
        var otherVendor = await store.FindObjectAsync("agent", "twilio", "ch_1", CancellationToken.None);

        Assert.Multiple(() =>
        {
            Assert.That(found, Is.EqualTo(charge with { AmountReturned = 2000 }));
            Assert.That(second, Is.EqualTo(new StoredObject("ch_2", "charge", null, "acct_1", "jpy", 300, 0)));
            Assert.That(otherKey, Is.Null, "one key never sees another's objects");
            Assert.That(otherVendor, Is.Null);
        });
    }

    [Test]
    public async Task Audit_records_are_stored_once_by_id_and_read_back_filtered_and_paged()
    {
        var stores = await OpenAsync();
        var records = Enumerable.Range(1, 5).Select(i => new StoredAuditRecord(
            $"aud_{i}", Noon.AddSeconds(i), i % 2 == 0 ? "b" : "a", "stripe", i <= 3 ? "run-1" : null, i == 5 ? "deny" : "allow", i == 5 ? "daily_cap_exceeded" : null, $"{{\"n\":{i}}}", "fleet", "api.stripe.com")).ToList();

        var first = await stores.Budget.AppendAuditAsync([records[0], records[1], records[0], records[2]], Noon, CancellationToken.None);
        var second = await stores.Budget.AppendAuditAsync(records, Noon, CancellationToken.None);
        var newest = await stores.Admin.QueryAuditAsync(new AuditFilter(null, null, null, null, null, null, null), 2, CancellationToken.None);
        var nextPage = await stores.Admin.QueryAuditAsync(new AuditFilter(null, null, null, null, null, null, new AuditPosition(newest[^1].TimestampMillis, newest[^1].RecordId)), 10, CancellationToken.None);
        var keyA = await stores.Admin.QueryAuditAsync(new AuditFilter(null, "a", null, null, null, null, null), 10, CancellationToken.None);
        var run = await stores.Admin.QueryAuditAsync(new AuditFilter("run-1", null, "stripe", "allow", Noon.AddSeconds(2), Noon.AddSeconds(4), null), 10, CancellationToken.None);
        var exported = new List<StoredAuditRow>();
        await foreach (var row in stores.Admin.ExportAuditAsync(new AuditFilter(null, null, null, "deny", null, null, null), CancellationToken.None))
        {
            exported.Add(row);
        }

        Assert.Multiple(() =>
        {
            Assert.That((first, second), Is.EqualTo((3, 2)), "a record id seen before, or twice in one batch, is stored once");
            Assert.That(newest.Select(r => r.RecordId), Is.EqualTo(new[] { "aud_5", "aud_4" }));
            Assert.That(nextPage.Select(r => r.RecordId), Is.EqualTo(new[] { "aud_3", "aud_2", "aud_1" }));
            Assert.That(keyA.Select(r => r.RecordId), Is.EqualTo(new[] { "aud_5", "aud_3", "aud_1" }));
            Assert.That(run.Select(r => r.RecordId), Is.EqualTo(new[] { "aud_3", "aud_2" }));
            Assert.That(exported.Select(r => (r.RecordId, r.Json, r.TimestampMillis)), Is.EqualTo(new[] { ("aud_5", "{\"n\":5}", Noon.AddSeconds(5).ToUnixTimeMilliseconds()) }));
        });
    }

    [Test]
    public async Task Counters_are_listed_by_day_and_by_run_filtered_by_key_run_and_days()
    {
        var stores = await OpenAsync();
        await stores.Budget.AuthorizeAsync(Authorize("a", 1, dailyCap: 100, runId: "run-1"), CancellationToken.None);
        await stores.Budget.AuthorizeAsync(Authorize("b", 2, dailyCap: 100, runId: "run-2") with { Day = Today.AddDays(-1) }, CancellationToken.None);
        await stores.Budget.AuthorizeAsync(Authorize("c", 3, dailyCap: 100), CancellationToken.None);

        var days = await stores.Admin.ListCountersAsync(new SpendFilter(null, null, null, null), byRun: false, CancellationToken.None);
        var someKeys = await stores.Admin.ListCountersAsync(new SpendFilter(["a", "b"], null, Today, Today), byRun: false, CancellationToken.None);
        var runs = await stores.Admin.ListCountersAsync(new SpendFilter(null, "run-2", null, null), byRun: true, CancellationToken.None);

        Assert.Multiple(() =>
        {
            Assert.That(days.Select(c => (c.KeyId, c.Day, c.ReservedMicroUsd)), Is.EqualTo(new[]
            {
                ("a", (string?)"2026-03-10", Dollars(1)), ("b", "2026-03-09", Dollars(2)), ("c", "2026-03-10", Dollars(3)),
            }));
            Assert.That(someKeys.Select(c => c.KeyId), Is.EqualTo(new[] { "a" }));
            Assert.That(runs, Is.EqualTo(new[] { new SpendCounter("b", null, "run-2", 0, Dollars(2)) }));
        });
    }

    [Test]
    public async Task Pruning_forgets_finished_reservations_before_the_cutoff_and_never_pending_ones()
    {
        var store = (await OpenAsync()).Budget;
        var committed = await store.AuthorizeAsync(Authorize("agent", 1, dailyCap: 100, idempotencyKey: "done"), CancellationToken.None);
        var pending = await store.AuthorizeAsync(Authorize("agent", 2, dailyCap: 100), CancellationToken.None);
        await store.SettleAsync(Commit(committed.ReservationId!, 1));

        var early = await store.PruneFinishedAsync(Noon, CancellationToken.None); // finished at noon: not before it
        var pruned = await store.PruneFinishedAsync(Noon.AddMinutes(1), CancellationToken.None);
        var retry = await store.AuthorizeAsync(Authorize("agent", 1, dailyCap: 100, idempotencyKey: "done"), CancellationToken.None);

        var unsettled = await store.ListUnsettledAsync("agent", CancellationToken.None);
        var day = await store.DayAsync("agent");
        Assert.Multiple(() =>
        {
            Assert.That((early, pruned), Is.EqualTo((0, 1)));
            Assert.That(retry.Status, Is.EqualTo(AuthorizeStatus.Reserved), "forgotten: a retry reserves again");
            Assert.That(unsettled.Select(r => r.ReservationId), Is.EquivalentTo(new[] { pending.ReservationId, retry.ReservationId }));
            Assert.That((day.SettledMicroUsd, day.ReservedMicroUsd), Is.EqualTo((Dollars(1), Dollars(3))), "pruning never moves counters");
        });
    }

    [Test]
    public async Task A_commit_past_a_cap_records_the_overrun_with_the_counter_against_the_cap_in_force_then()
    {
        var opened = await OpenAsync();
        var store = opened.Budget;
        var a = await store.AuthorizeAsync(Authorize("agent", 30, dailyCap: 100, runId: "run-1", runCap: 60), CancellationToken.None);
        var b = await store.AuthorizeAsync(Authorize("agent", 30, dailyCap: 100, runId: "run-1", runCap: 60), CancellationToken.None);
        var c = await store.AuthorizeAsync(Authorize("agent", 20, dailyCap: 100), CancellationToken.None);
        KeyCaps? Caps(string key) => new KeyCaps(Dollars(100), Dollars(60));

        var first = (await store.SettleAsync([Commit(a.ReservationId!, 40)], _ => true, Noon, Caps, CancellationToken.None))[0];
        var second = (await store.SettleAsync([Commit(b.ReservationId!, 35)], _ => true, Noon, Caps, CancellationToken.None))[0];
        var resolved = await store.ResolveAsync(c.ReservationId!, Dollars(40), Noon, Caps, CancellationToken.None);
        var day = await store.DayAsync("agent");
        var run = await store.GetRunSpendAsync("agent", "run-1", CancellationToken.None);
        var days = await opened.Admin.ListCountersAsync(new SpendFilter(["agent"], null, null, null), byRun: false, CancellationToken.None);
        var runs = await opened.Admin.ListCountersAsync(new SpendFilter(["agent"], "run-1", null, null), byRun: true, CancellationToken.None);

        Assert.Multiple(() =>
        {
            Assert.That((first.Status, first.Overruns), Is.EqualTo((SettleStatus.Settled, (IReadOnlyList<SpendOverrun>?)null)), "$40 of a $60 run cap");
            Assert.That(second.Overruns, Is.EqualTo(new[] { new SpendOverrun("agent", "run", "run run-1", Dollars(60), Dollars(75), Dollars(15), Dollars(15)) }));
            Assert.That(resolved.Overruns, Is.EqualTo(new[] { new SpendOverrun("agent", "daily", "2026-03-10", Dollars(100), Dollars(115), Dollars(15), Dollars(15)) }), "an operator's resolution too");
            Assert.That((day.SettledMicroUsd, day.OverrunMicroUsd), Is.EqualTo((Dollars(115), Dollars(15))));
            Assert.That((run.SettledMicroUsd, run.OverrunMicroUsd), Is.EqualTo((Dollars(75), Dollars(15))));
            Assert.That(days.Select(d => d.OverrunMicroUsd), Is.EqualTo(new[] { Dollars(15) }));
            Assert.That(runs.Select(r => r.OverrunMicroUsd), Is.EqualTo(new[] { Dollars(15) }));
        });
    }

    [Test]
    public async Task A_deferred_object_settles_its_pending_reservation_once_within_its_key_and_is_pruned_with_it()
    {
        var store = (await OpenAsync()).Budget;
        var pending = await store.AuthorizeAsync(Authorize("sms", 1, dailyCap: 100), CancellationToken.None);
        var other = await store.AuthorizeAsync(Authorize("other", 1, dailyCap: 100), CancellationToken.None);
        var done = await store.AuthorizeAsync(Authorize("sms", 1, dailyCap: 100), CancellationToken.None);
        await store.SettleAsync(Commit(done.ReservationId!, 1));
        KeyCaps? Caps(string key) => new KeyCaps(Dollars(100), null);

        var recorded = await store.RecordDeferralsAsync(
        [
            new DeferralCommand("sms", "twilio", "SM1", pending.ReservationId!, "refetch-1"),
            new DeferralCommand("sms", "twilio", "SM1", pending.ReservationId!, "refetch-again"),
            new DeferralCommand("sms", "twilio", "SM2", other.ReservationId!, "another key's"),
            new DeferralCommand("sms", "twilio", "SM3", done.ReservationId!, "finished"),
        ], "client-a", Noon, CancellationToken.None);
        var listed = await store.ListDeferredAsync("sms", "twilio", Noon, 10, CancellationToken.None);
        var tooEarly = await store.ListDeferredAsync("sms", "twilio", Noon.AddSeconds(-1), 10, CancellationToken.None);
        var settled = await store.SettleObjectsAsync(
        [
            new ObjectSettleCommand("sms", "twilio", "SM1", true, Dollars(0.5m)),
            new ObjectSettleCommand("sms", "twilio", "SM1", true, Dollars(0.5m)),
            new ObjectSettleCommand("sms", "twilio", "SM9", true, Dollars(0.5m)),
            new ObjectSettleCommand("other", "twilio", "SM1", true, Dollars(0.5m)),
        ], key => key == "sms", Noon, Caps, CancellationToken.None);
        var afterSettle = await store.ListDeferredAsync("sms", "twilio", Noon, 10, CancellationToken.None);
        await store.PruneFinishedAsync(Noon.AddMinutes(1), CancellationToken.None);
        var pendingAgain = await store.AuthorizeAsync(Authorize("sms", 1, dailyCap: 100), CancellationToken.None);
        var reused = await store.RecordDeferralsAsync([new DeferralCommand("sms", "twilio", "SM1", pendingAgain.ReservationId!, "refetch-2")], "client-a", Noon, CancellationToken.None);

        var day = await store.DayAsync("sms");
        Assert.Multiple(() =>
        {
            Assert.That(recorded, Is.EqualTo(new[] { true, false, false, false }), "only the first, of a pending reservation of its own key");
            Assert.That(listed, Is.EqualTo(new[] { new StoredDeferral("SM1", pending.ReservationId!, Dollars(1), "refetch-1", Noon) }));
            Assert.That(tooEarly, Is.Empty);
            Assert.That(settled.Select(r => r.Status), Is.EqualTo(new[] { SettleStatus.Settled, SettleStatus.NotPending, SettleStatus.NotPending, SettleStatus.OutOfScope }));
            Assert.That(afterSettle, Is.Empty, "a settled reservation's object waits for nothing");
            Assert.That(reused, Is.EqualTo(new[] { true }), "pruning the finished reservation forgot its deferral, so the object id maps anew");
            Assert.That((day.SettledMicroUsd, day.ReservedMicroUsd), Is.EqualTo((Dollars(1.5m), Dollars(1))));
        });
    }

    [Test]
    public async Task A_duty_is_held_by_one_holder_until_it_expires_renewed_by_it_and_taken_at_once_when_given_up()
    {
        var store = (await OpenAsync()).Budget;
        Task<DutyClaim> Claim(string holder, int seconds, int ttl = 30) =>
            store.ClaimDutyAsync("sms", "reconcile", holder, Noon.AddSeconds(seconds), TimeSpan.FromSeconds(ttl), CancellationToken.None).AsTask();

        var a = await Claim("a", 0);
        var b = await Claim("b", 10);
        var renewed = await Claim("a", 20);
        var bStillOut = await Claim("b", 40);
        var bAfterExpiry = await Claim("b", 50);
        var givenUp = await Claim("b", 51, ttl: 0);
        var aAtOnce = await Claim("a", 51);
        var otherKey = await store.ClaimDutyAsync("other", "reconcile", "c", Noon, TimeSpan.FromSeconds(30), CancellationToken.None);

        Assert.Multiple(() =>
        {
            Assert.That(a, Is.EqualTo(new DutyClaim("a", Noon.AddSeconds(30))));
            Assert.That(b, Is.EqualTo(new DutyClaim("a", Noon.AddSeconds(30))), "refused: the holder and its expiry are returned");
            Assert.That((renewed, bStillOut), Is.EqualTo((new DutyClaim("a", Noon.AddSeconds(50)), new DutyClaim("a", Noon.AddSeconds(50)))));
            Assert.That(bAfterExpiry, Is.EqualTo(new DutyClaim("b", Noon.AddSeconds(80))));
            Assert.That((givenUp, aAtOnce), Is.EqualTo((new DutyClaim("b", Noon.AddSeconds(51)), new DutyClaim("a", Noon.AddSeconds(81)))));
            Assert.That(otherKey.Holder, Is.EqualTo("c"), "one claim per key");
        });
    }

    [Test]
    public async Task A_run_cap_that_includes_llm_counts_the_runs_llm_total_and_the_run_read_shows_it_by_model()
    {
        // LLM spend written as the LiteLLM intake writes it (straight into llm_spend and llm_run_total).
        var opened = await OpenAsync();
        await Client.TestUtilities.BudgetService.LlmSpendSeed.IntoAsync(opened.SqlitePath ?? string.Empty, opened.Postgres,
            new("log-1", "r1", Dollars(30), "gpt-4o", "openai", Noon.AddMinutes(-5)),
            new("log-2", "r1", Dollars(10), "claude-sonnet-4", "anthropic", Noon.AddMinutes(-4)),
            new("log-3", "r1", Dollars(10), "claude-sonnet-4", "anthropic", Noon.AddMinutes(-3)));
        var store = opened.Budget;

        var ignored = await store.AuthorizeAsync(Authorize("saas-only", 45, dailyCap: 100, runId: "r1", runCap: 50), CancellationToken.None);
        var denied = await store.AuthorizeAsync(Authorize("combined", 15, dailyCap: 100, runId: "r1", runCap: 60) with { RunCapIncludesLlm = true }, CancellationToken.None);
        var fits = await store.AuthorizeAsync(Authorize("combined", 10, dailyCap: 100, runId: "r1", runCap: 60) with { RunCapIncludesLlm = true }, CancellationToken.None);
        var run = await opened.Admin.GetRunAsync("r1", CancellationToken.None);
        var unknown = await opened.Admin.GetRunAsync("nobody", CancellationToken.None);

        Assert.Multiple(() =>
        {
            Assert.That(ignored.Status, Is.EqualTo(AuthorizeStatus.Reserved), "a run cap without llm ignores the LLM spend");
            Assert.That((denied.Status, denied.LlmSpentMicroUsd, denied.RunSpentMicroUsd), Is.EqualTo((AuthorizeStatus.RunCapExceeded, Dollars(50), 0L)));
            Assert.That(fits.Status, Is.EqualTo(AuthorizeStatus.Reserved));
            Assert.That(run.Keys.Select(k => (k.KeyId, k.ReservedMicroUsd)), Is.EqualTo(new[] { ("combined", Dollars(10)), ("saas-only", Dollars(45)) }));
            Assert.That((run.LlmMicroUsd, run.LlmCalls), Is.EqualTo((Dollars(50), 3L)));
            Assert.That(run.LlmModels, Is.EqualTo(new[] { new StoredModelSpend("gpt-4o", "openai", Dollars(30), 1), new StoredModelSpend("claude-sonnet-4", "anthropic", Dollars(20), 2) }));
            Assert.That((run.FirstSeen, run.LastSeen), Is.EqualTo(((DateTimeOffset?)Noon.AddMinutes(-5), (DateTimeOffset?)Noon.AddMinutes(-3))));
            Assert.That((unknown.Keys.Count, unknown.LlmMicroUsd, unknown.LlmModels.Count, unknown.FirstSeen), Is.EqualTo((0, 0L, 0, (DateTimeOffset?)null)));
        });
    }

    [Test]
    public async Task LLM_spend_arriving_while_16_callers_charge_one_run_passes_the_combined_cap_by_at_most_what_was_reported_after_the_last_charge()
    {
        var opened = await OpenAsync();
        var store = opened.Budget;
        const decimal Cap = 50;

        // $10 of LLM logs are in before the first charge; $10 more land (as the LiteLLM intake writes them) while 16
        // callers each try 5 charges of $1 in the run.
        Task SeedAsync(int from, int to) => Task.Run(async () =>
        {
            for (var log = from; log < to; log++)
            {
                await Client.TestUtilities.BudgetService.LlmSpendSeed.IntoAsync(opened.SqlitePath ?? string.Empty, opened.Postgres,
                    new Client.TestUtilities.BudgetService.LlmSpendRow($"log-{log}", "r1", Dollars(0.5m), "gpt-4o", "openai", Noon));
            }
        });
        await SeedAsync(0, 20);
        var seeding = SeedAsync(20, 40);
        var outcomes = await Task.WhenAll(Enumerable.Range(0, 16).Select(caller => Task.Run(async () =>
        {
            var mine = new List<AuthorizeOutcome>();
            for (var call = 0; call < 5; call++)
            {
                mine.Add(await store.AuthorizeAsync(Authorize("combined", 1, dailyCap: 1000, runId: "r1", runCap: Cap) with { RunCapIncludesLlm = true }, CancellationToken.None));
            }

            return mine;
        })));
        await seeding;

        var allowed = outcomes.SelectMany(o => o).Where(o => o.Status == AuthorizeStatus.Reserved).ToList();
        var saas = (await store.GetRunSpendAsync("combined", "r1", CancellationToken.None)).ReservedMicroUsd;
        var llm = (await opened.Admin.GetRunAsync("r1", CancellationToken.None)).LlmMicroUsd;

        // The charge that took the run counter to its final value was decided against the LLM spend it read; whatever
        // was reported after that is all the combined spend can be over the cap by.
        var last = allowed.MaxBy(o => o.RunSpentMicroUsd)!;
        var reportedAfterLast = llm - last.LlmSpentMicroUsd;
        var next = await store.AuthorizeAsync(Authorize("combined", 1, dailyCap: 1000, runId: "r1", runCap: Cap) with { RunCapIncludesLlm = true }, CancellationToken.None);
        Assert.Multiple(() =>
        {
            Assert.That(llm, Is.EqualTo(Dollars(20)), "every log counted once");
            Assert.That(allowed.All(o => o.RunSpentMicroUsd + o.LlmSpentMicroUsd <= Dollars(Cap)), Is.True, "each charge fit the cap with the LLM spend it read");
            Assert.That(allowed.All(o => o.LlmSpentMicroUsd >= Dollars(10)), Is.True, "every charge counted the LLM spend reported before it");
            Assert.That(allowed, Has.Count.LessThanOrEqualTo(40), "$10 of tokens were in before the first charge");
            Assert.That(last.RunSpentMicroUsd, Is.EqualTo(saas));
            Assert.That(saas + llm, Is.LessThanOrEqualTo(Dollars(Cap) + reportedAfterLast));
            Assert.That(outcomes.SelectMany(o => o).Count(o => o.Status == AuthorizeStatus.RunCapExceeded), Is.GreaterThan(0), "the cap stopped the run");
            Assert.That(next.Status, Is.EqualTo(saas + llm + Dollars(1) > Dollars(Cap) ? AuthorizeStatus.RunCapExceeded : AuthorizeStatus.Reserved),
                "once the reports are in, the next charge sees them all");
        });
    }

    [Test]
    public async Task The_store_answers_a_ping()
    {
        var store = (await OpenAsync()).Budget;
        Assert.DoesNotThrowAsync(async () => await store.PingAsync(CancellationToken.None));
    }

    [Test]
    public async Task Keys_are_inserted_once_and_each_policy_change_bumps_the_version()
    {
        var keys = (await OpenAsync()).Keys;
        var key = new StoredKey("agent", "stripe", [1, 2, 3], 1, [9, 9], KeySource.Configuration, Noon, Noon);

        var inserted = await keys.TryInsertAsync(key, CancellationToken.None);
        var again = await keys.TryInsertAsync(key with { Vendor = "twilio" }, CancellationToken.None);
        var updated = await keys.UpdatePolicyAsync("agent", [4, 5], KeySource.Admin, Noon.AddHours(1), CancellationToken.None);
        var missing = await keys.UpdatePolicyAsync("nobody", [4, 5], KeySource.Admin, Noon, CancellationToken.None);
        await keys.TryInsertAsync(new StoredKey("a-first", "resend", [7], 1, null, KeySource.Admin, Noon, Noon), CancellationToken.None);
        var listed = await keys.ListAsync(CancellationToken.None);
        var found = await keys.FindAsync("agent", CancellationToken.None);

        Assert.Multiple(() =>
        {
            Assert.That((inserted, again, missing), Is.EqualTo((true, false, (StoredKey?)null)));
            Assert.That((updated!.Vendor, updated.Policy, updated.PolicyVersion, updated.Source, updated.CreatedAt, updated.UpdatedAt),
                Is.EqualTo(("stripe", new byte[] { 4, 5 }, 2L, KeySource.Admin, Noon, Noon.AddHours(1))));
            Assert.That(updated.BrakeKeySha256, Is.EqualTo(new byte[] { 9, 9 }));
            Assert.That(found, Is.Not.Null);
            Assert.That(found!.Policy, Is.EqualTo(new byte[] { 4, 5 }));
            Assert.That(listed.Select(k => (k.KeyId, k.BrakeKeySha256 is null)), Is.EqualTo(new[] { ("a-first", true), ("agent", false) }));
        });
    }

    [Test]
    public async Task The_configurations_import_changes_only_a_key_that_follows_the_configuration_and_only_when_its_policy_differs()
    {
        var keys = (await OpenAsync()).Keys;
        await keys.TryInsertAsync(new StoredKey("configured", "stripe", [1], 1, null, KeySource.Configuration, Noon, Noon), CancellationToken.None);
        await keys.TryInsertAsync(new StoredKey("operated", "stripe", [1], 1, null, KeySource.Configuration, Noon, Noon), CancellationToken.None);

        // A replica read "operated" while it still followed the configuration; an operator changed it meanwhile.
        await keys.UpdatePolicyAsync("operated", [2], KeySource.Admin, Noon.AddMinutes(1), CancellationToken.None);
        var overOperator = await keys.UpdatePolicyAsync("operated", [3], KeySource.Configuration, Noon.AddMinutes(2), CancellationToken.None);

        // Two replicas import the same new configuration: the second finds it in force and bumps nothing.
        var first = await keys.UpdatePolicyAsync("configured", [4], KeySource.Configuration, Noon.AddMinutes(3), CancellationToken.None);
        var second = await keys.UpdatePolicyAsync("configured", [4], KeySource.Configuration, Noon.AddMinutes(3), CancellationToken.None);
        var operated = await keys.FindAsync("operated", CancellationToken.None);
        var configured = await keys.FindAsync("configured", CancellationToken.None);

        Assert.Multiple(() =>
        {
            Assert.That(overOperator, Is.Null, "the import never writes over an operator's policy");
            Assert.That((operated!.Policy, operated.PolicyVersion, operated.Source), Is.EqualTo((new byte[] { 2 }, 2L, KeySource.Admin)));
            Assert.That(first?.PolicyVersion, Is.EqualTo(2L));
            Assert.That(second, Is.Null);
            Assert.That((configured!.Policy, configured.PolicyVersion), Is.EqualTo((new byte[] { 4 }, 2L)));
        });
    }

    [Test]
    public async Task A_first_secret_is_stored_once_and_a_rotation_needs_one_and_the_next_version()
    {
        var keys = (await OpenAsync()).Keys;
        await keys.TryInsertAsync(new StoredKey("agent", "stripe", [1], 1, null, KeySource.Admin, Noon, Noon), CancellationToken.None);

        var rotateNone = await keys.RotateSecretAsync("agent", Sealed(1), null, Noon, CancellationToken.None);
        var first = await keys.SetFirstSecretAsync("agent", Sealed(1), Noon.AddMinutes(1), CancellationToken.None);
        var again = await keys.SetFirstSecretAsync("agent", Sealed(1), Noon.AddMinutes(2), CancellationToken.None);
        var missing = await keys.SetFirstSecretAsync("nobody", Sealed(1), Noon, CancellationToken.None);
        var skipped = await keys.RotateSecretAsync("agent", Sealed(3), null, Noon.AddMinutes(3), CancellationToken.None);
        var rotated = await keys.RotateSecretAsync("agent", Sealed(2), Noon.AddHours(1), Noon.AddMinutes(4), CancellationToken.None);
        var found = await keys.FindAsync("agent", CancellationToken.None);

        Assert.Multiple(() =>
        {
            Assert.That((rotateNone.Status, first.Status, again.Status, missing.Status, skipped.Status, rotated.Status), Is.EqualTo(
                (SecretWriteStatus.Conflict, SecretWriteStatus.Written, SecretWriteStatus.Conflict, SecretWriteStatus.NoKey, SecretWriteStatus.Conflict, SecretWriteStatus.Written)));
            Assert.That((first.Key!.SecretVersion, first.Key.SecretSetAt, first.Key.PreviousSecretValidUntil), Is.EqualTo((1L, (DateTimeOffset?)Noon.AddMinutes(1), (DateTimeOffset?)null)));
            Assert.That((found!.SecretVersion, found.SecretSetAt, found.PreviousSecretValidUntil, found.PolicyVersion),
                Is.EqualTo((2L, (DateTimeOffset?)Noon.AddMinutes(4), (DateTimeOffset?)Noon.AddHours(1), 1L)), "a secret change is no policy change");
        });
    }

    [Test]
    public async Task Reading_secrets_gives_the_current_then_the_previous_only_inside_its_window_and_pruning_erases_it_after()
    {
        var keys = (await OpenAsync()).Keys;
        await keys.TryInsertAsync(new StoredKey("agent", "stripe", [1], 1, null, KeySource.Admin, Noon, Noon), CancellationToken.None);
        await keys.SetFirstSecretAsync("agent", Sealed(1), Noon, CancellationToken.None);
        await keys.RotateSecretAsync("agent", Sealed(2), Noon.AddHours(1), Noon, CancellationToken.None);

        var inside = await keys.ReadSecretsAsync("agent", Noon.AddMinutes(59), CancellationToken.None);
        var after = await keys.ReadSecretsAsync("agent", Noon.AddHours(1), CancellationToken.None);
        var prunedEarly = await keys.PruneExpiredSecretsAsync(Noon.AddMinutes(59), CancellationToken.None);
        var pruned = await keys.PruneExpiredSecretsAsync(Noon.AddHours(1), CancellationToken.None);
        var stillInside = await keys.ReadSecretsAsync("agent", Noon, CancellationToken.None);

        Assert.Multiple(() =>
        {
            Assert.That(inside.Select(s => (s.Version, s.ValidUntil)), Is.EqualTo(new[] { (2L, (DateTimeOffset?)null), (1L, (DateTimeOffset?)Noon.AddHours(1)) }));
            Assert.That(inside[0].Sealed, Is.EqualTo(Sealed(2).Sealed), "the sealed bytes come back as stored");
            Assert.That(inside[0].MasterKeyId, Is.EqualTo("0123456789abcdef"));
            Assert.That(after.Select(s => s.Version), Is.EqualTo(new[] { 2L }), "a closed window hides the previous secret before pruning");
            Assert.That((prunedEarly, pruned), Is.EqualTo((0, 1)));
            Assert.That(stillInside.Select(s => s.Version), Is.EqualTo(new[] { 2L }), "pruned means erased, not hidden");
        });
    }

    [Test]
    public async Task A_rotation_without_overlap_erases_the_previous_secret_and_one_with_overlap_erases_any_older()
    {
        var keys = (await OpenAsync()).Keys;
        await keys.TryInsertAsync(new StoredKey("agent", "stripe", [1], 1, null, KeySource.Admin, Noon, Noon), CancellationToken.None);
        await keys.SetFirstSecretAsync("agent", Sealed(1), Noon, CancellationToken.None);
        await keys.RotateSecretAsync("agent", Sealed(2), Noon.AddDays(1), Noon, CancellationToken.None);
        await keys.RotateSecretAsync("agent", Sealed(3), Noon.AddDays(1), Noon, CancellationToken.None);
        var withOverlap = await keys.ReadSecretsAsync("agent", Noon, CancellationToken.None);
        var rotated = await keys.RotateSecretAsync("agent", Sealed(4), null, Noon, CancellationToken.None);
        var withoutOverlap = await keys.ReadSecretsAsync("agent", Noon, CancellationToken.None);
        var masterKeys = await keys.ListMasterKeyIdsAsync(CancellationToken.None);

        Assert.Multiple(() =>
        {
            Assert.That(withOverlap.Select(s => s.Version), Is.EqualTo(new[] { 3L, 2L }), "at most the previous secret is kept");
            Assert.That(withoutOverlap.Select(s => s.Version), Is.EqualTo(new[] { 4L }));
            Assert.That(rotated.Key!.PreviousSecretValidUntil, Is.Null);
            Assert.That(masterKeys, Is.EqualTo(new[] { "0123456789abcdef" }));
        });
    }

    [Test]
    public async Task Client_credentials_keep_their_hash_and_scope_and_a_taken_id_or_hash_inserts_nothing()
    {
        var clients = (await OpenAsync()).Clients;
        var fleet = new StoredClient("fleet-a", [1, 1, 1], ["agent", "other"], ClientSource.Admin, Noon, null);

        var inserted = await clients.TryInsertAsync(fleet, CancellationToken.None);
        var sameId = await clients.TryInsertAsync(fleet with { TokenSha256 = [2, 2, 2] }, CancellationToken.None);
        var sameHash = await clients.TryInsertAsync(fleet with { ClientId = "fleet-b" }, CancellationToken.None);
        await clients.TryInsertAsync(new StoredClient("config", [3], ["*"], ClientSource.Configuration, Noon, null), CancellationToken.None);
        var revoked = await clients.RevokeAsync("fleet-a", Noon.AddHours(1), CancellationToken.None);
        var revokedAgain = await clients.RevokeAsync("fleet-a", Noon.AddHours(2), CancellationToken.None);
        var unknown = await clients.RevokeAsync("nobody", Noon, CancellationToken.None);
        var listed = await clients.ListAsync(CancellationToken.None);

        Assert.Multiple(() =>
        {
            Assert.That((inserted, sameId, sameHash), Is.EqualTo((true, false, false)));
            Assert.That((revoked, revokedAgain, unknown), Is.EqualTo((true, true, false)));
            Assert.That(listed.Select(c => c.ClientId), Is.EqualTo(new[] { "config", "fleet-a" }));
            Assert.That((listed[0].Source, listed[0].KeyIds, listed[0].RevokedAt), Is.EqualTo((ClientSource.Configuration, new[] { "*" }, (DateTimeOffset?)null)));
            Assert.That((listed[1].TokenSha256, listed[1].KeyIds, listed[1].RevokedAt), Is.EqualTo((new byte[] { 1, 1, 1 }, new[] { "agent", "other" }, (DateTimeOffset?)Noon.AddHours(1))), "the first revocation's time stays");
        });
    }

    [Test]
    public async Task Llm_spend_counts_each_log_once_into_its_run_total_with_one_audit_record_and_credentials_keep_their_integrations()
    {
        var stores = await OpenAsync();
        var llm = (ILlmSpendStore)stores.Budget;
        static LlmSpendEntry Entry(string logId, string runId, long cost, int minute) => new(logId, runId, cost, "gpt-4o", "openai", 10, 20, "success", Noon.AddMinutes(minute), "litellm-proxy",
            new StoredAuditRecord("llm_" + logId, Noon.AddMinutes(minute), "llm", "llm", runId.Length == 0 ? null : runId, "allow", null, "{}", "litellm-proxy"));

        var first = await llm.RecordLlmSpendAsync([Entry("b", "run-1", 300, 2), Entry("a", "run-1", 200, 1), Entry("a", "run-1", 200, 1), Entry("c", "", 5, 3)], Noon, CancellationToken.None);
        var racing = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => llm.RecordLlmSpendAsync([Entry("d", "run-1", 1_000, 0), Entry("b", "run-1", 300, 2)], Noon, CancellationToken.None).AsTask()));
        var run = await llm.GetLlmRunTotalAsync("run-1", CancellationToken.None);
        var noRun = await llm.GetLlmRunTotalAsync(string.Empty, CancellationToken.None);
        var unknown = await llm.GetLlmRunTotalAsync("run-2", CancellationToken.None);
        var audit = await stores.Admin.QueryAuditAsync(new AuditFilter(null, "llm", null, null, null, null, null), 10, CancellationToken.None);
        await stores.Clients.TryInsertAsync(new StoredClient("proxy", [9], [], ClientSource.Admin, Noon, null, ["litellm"]), CancellationToken.None);
        await stores.Clients.TryInsertAsync(new StoredClient("plain", [8], ["agent"], ClientSource.Admin, Noon, null), CancellationToken.None);
        var clients = await stores.Clients.ListAsync(CancellationToken.None);

        Assert.Multiple(() =>
        {
            Assert.That(first, Is.EqualTo(new LlmSpendOutcome(3, 1)), "a log twice in one call counts once");
            Assert.That((racing.Sum(o => o.Accepted), racing.Sum(o => o.Duplicates)), Is.EqualTo((1, 7)), "four calls at once: the new log counted by one");
            Assert.That(run, Is.EqualTo(new LlmRunTotal("run-1", 1_500, 3, Noon, Noon.AddMinutes(2))));
            Assert.That(noRun, Is.EqualTo(new LlmRunTotal(string.Empty, 5, 1, Noon.AddMinutes(3), Noon.AddMinutes(3))));
            Assert.That(unknown, Is.Null);
            Assert.That(audit.Select(r => r.RecordId).Order(), Is.EqualTo(new[] { "llm_a", "llm_b", "llm_c", "llm_d" }), "one audit record per log, stored with it");
            Assert.That(clients.Single(c => c.ClientId == "proxy").Integrations, Is.EqualTo(new[] { "litellm" }));
            Assert.That(clients.Single(c => c.ClientId == "proxy").KeyIds, Is.Empty);
            Assert.That(clients.Single(c => c.ClientId == "plain").Integrations, Is.Empty);
        });
    }

    [Test]
    public async Task Pruning_records_forgets_audit_past_its_retention_objects_not_seen_since_the_cutoff_and_expired_duties()
    {
        var store = (await OpenAsync()).Budget;
        var old = Enumerable.Range(0, PruneBatches.Size + 500)
            .Select(i => new StoredAuditRecord($"old-{i}", Noon.AddDays(-10), "agent", "stripe", null, "allow", null, "{}", "fleet"))
            .ToList();
        await store.AppendAuditAsync([.. old, new StoredAuditRecord("recent", Noon, "agent", "stripe", null, "allow", null, "{}", "fleet")], Noon, CancellationToken.None);
        await store.RememberObjectsAsync("agent", "stripe", [new StoredObject("ch_old", "charge", "cus_1", null, "usd", 100, 0)], Noon.AddDays(-500), CancellationToken.None);
        await store.RememberObjectsAsync("agent", "stripe", [new StoredObject("ch_new", "charge", "cus_1", null, "usd", 100, 0)], Noon.AddDays(-1), CancellationToken.None);
        await store.ClaimDutyAsync("sms", "expired", "holder-1", Noon.AddMinutes(-10), TimeSpan.FromMinutes(5), CancellationToken.None);
        await store.ClaimDutyAsync("sms", "held", "holder-1", Noon, TimeSpan.FromMinutes(5), CancellationToken.None);

        var keepingAudit = await store.PruneRecordsAsync(new RecordCutoffs(Noon, null, Noon.AddDays(-400)), CancellationToken.None);
        var withAudit = await store.PruneRecordsAsync(new RecordCutoffs(Noon, Noon.AddDays(-1), Noon.AddDays(-400)), CancellationToken.None);

        var oldObject = await store.FindObjectAsync("agent", "stripe", "ch_old", CancellationToken.None);
        var newObject = await store.FindObjectAsync("agent", "stripe", "ch_new", CancellationToken.None);
        var expiredTaken = await store.ClaimDutyAsync("sms", "expired", "holder-2", Noon, TimeSpan.FromMinutes(5), CancellationToken.None);
        var heldKept = await store.ClaimDutyAsync("sms", "held", "holder-2", Noon, TimeSpan.FromMinutes(5), CancellationToken.None);
        var audit = await _opened[0].Admin.QueryAuditAsync(new AuditFilter(null, null, null, null, null, null, null), 10, CancellationToken.None);
        Assert.Multiple(() =>
        {
            Assert.That(keepingAudit, Is.EqualTo(new PrunedRecords(0, 1, 1)), "without an audit retention, every record is kept");
            Assert.That(withAudit, Is.EqualTo(new PrunedRecords(PruneBatches.Size + 500, 0, 0)), "every old record, over more than one batch");
            Assert.That(audit.Select(row => row.RecordId), Is.EqualTo(new[] { "recent" }));
            Assert.That((oldObject, newObject?.Id), Is.EqualTo(((StoredObject?)null, "ch_new")));
            Assert.That(expiredTaken.Holder, Is.EqualTo("holder-2"));
            Assert.That(heldKept.Holder, Is.EqualTo("holder-1"), "a live claim is kept");
        });
    }

    [Test]
    public async Task Credentials_the_admin_API_revoked_before_the_cutoff_are_forgotten_and_configured_ones_never_are()
    {
        var clients = (await OpenAsync()).Clients;
        await clients.TryInsertAsync(new StoredClient("revoked-long-ago", [1], ["agent"], ClientSource.Admin, Noon.AddDays(-200), Noon.AddDays(-100)), CancellationToken.None);
        await clients.TryInsertAsync(new StoredClient("revoked-lately", [2], ["agent"], ClientSource.Admin, Noon.AddDays(-200), Noon.AddDays(-1)), CancellationToken.None);
        await clients.TryInsertAsync(new StoredClient("active", [3], ["agent"], ClientSource.Admin, Noon.AddDays(-200), null), CancellationToken.None);
        await clients.TryInsertAsync(new StoredClient("configured", [4], ["*"], ClientSource.Configuration, Noon.AddDays(-200), Noon.AddDays(-100)), CancellationToken.None);

        var pruned = await clients.PruneRevokedAsync(Noon.AddDays(-90), CancellationToken.None);
        var listed = await clients.ListAsync(CancellationToken.None);

        Assert.Multiple(() =>
        {
            Assert.That(pruned, Is.EqualTo(new[] { "revoked-long-ago" }));
            Assert.That(listed.Select(c => c.ClientId), Is.EqualTo(new[] { "active", "configured", "revoked-lately" }), "a configured one would come back valid on the next start if forgotten");
        });
    }

    [Test]
    public async Task An_alert_fires_once_per_dedupe_key_however_many_callers_try_at_once_with_one_delivery_per_webhook()
    {
        var store = (await OpenAsync()).Alerts;
        var now = DateTimeOffset.FromUnixTimeMilliseconds(1_800_000_000_000);
        var fired = await Task.WhenAll(Enumerable.Range(0, 16).Select(caller => Task.Run(() =>
            store.TryFireAsync(AlertStoreCalls.Alert($"alt_{caller}", "threshold|agent|day|2026-03-10|80", now), ["ops", "slack"], CancellationToken.None).AsTask())));
        var other = await store.TryFireAsync(AlertStoreCalls.Alert("alt_other", "threshold|agent|day|2026-03-10|100", now), [], CancellationToken.None);

        var listed = await store.ListAsync(undeliveredOnly: false, 10, CancellationToken.None);
        Assert.Multiple(() =>
        {
            Assert.That(fired.Count(won => won), Is.EqualTo(1), "exactly one insert wins");
            Assert.That(other, Is.True, "another threshold is another alert");
            Assert.That(listed.Select(alert => alert.Alert.DedupeKey), Is.EquivalentTo(new[] { "threshold|agent|day|2026-03-10|80", "threshold|agent|day|2026-03-10|100" }));
            var first = listed.Single(alert => alert.Alert.ThresholdPercent == 80);
            Assert.That(first.Alert.AlertId, Is.EqualTo($"alt_{Array.IndexOf(fired, true)}"), "the winner's alert is the one stored");
            Assert.That(first.Alert.Payload, Is.EqualTo("{\"id\":\"x\"}"));
            Assert.That(first.Deliveries.Select(delivery => (delivery.Webhook, delivery.State, delivery.Attempts)),
                Is.EqualTo(new[] { ("ops", DeliveryState.Pending, 0), ("slack", DeliveryState.Pending, 0) }));
            Assert.That(listed.Single(alert => alert.Alert.ThresholdPercent == 100).Deliveries, Is.Empty);
        });
    }

    [Test]
    public async Task A_claimed_delivery_is_not_claimed_again_until_its_claim_runs_out_and_attempts_are_recorded_until_delivered()
    {
        var store = (await OpenAsync()).Alerts;
        var now = DateTimeOffset.FromUnixTimeMilliseconds(1_800_000_000_000);
        await store.TryFireAsync(AlertStoreCalls.Alert("alt_1", "a", now), ["ops"], CancellationToken.None);
        await store.TryFireAsync(AlertStoreCalls.Alert("alt_2", "b", now), ["ops"], CancellationToken.None);

        var claims = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() => store.ClaimDueAsync(now, now.AddMinutes(1), 10, CancellationToken.None).AsTask())));
        Assert.That(claims.SelectMany(claim => claim).Select(delivery => delivery.AlertId), Is.EquivalentTo(new[] { "alt_1", "alt_2" }), "each due delivery claimed once");

        // alt_1 fails and is due again in 10 seconds; alt_2 is delivered.
        await store.RecordAttemptAsync("alt_1", "ops", new DeliveryOutcome(DeliveryState.Pending, now, "HTTP 500", now.AddSeconds(10)), CancellationToken.None);
        await store.RecordAttemptAsync("alt_2", "ops", new DeliveryOutcome(DeliveryState.Delivered, now, null, null), CancellationToken.None);
        Assert.That(await store.ClaimDueAsync(now.AddSeconds(5), now.AddMinutes(1), 10, CancellationToken.None), Is.Empty, "not due before its next attempt");
        var again = await store.ClaimDueAsync(now.AddSeconds(10), now.AddSeconds(20), 10, CancellationToken.None);
        Assert.That(again.Select(delivery => (delivery.AlertId, delivery.Attempts)), Is.EqualTo(new[] { ("alt_1", 1) }));
        Assert.That(await store.ClaimDueAsync(now.AddSeconds(15), now.AddMinutes(1), 10, CancellationToken.None), Is.Empty, "claimed");
        Assert.That((await store.ClaimDueAsync(now.AddSeconds(20), now.AddMinutes(1), 10, CancellationToken.None)).Select(delivery => delivery.AlertId),
            Is.EqualTo(new[] { "alt_1" }), "a claim that ran out (its holder died) is taken again");
        await store.RecordAttemptAsync("alt_1", "ops", new DeliveryOutcome(DeliveryState.Failed, now.AddSeconds(21), "HTTP 503", null), CancellationToken.None);

        var undelivered = await store.ListAsync(undeliveredOnly: true, 10, CancellationToken.None);
        var all = await store.ListAsync(undeliveredOnly: false, 10, CancellationToken.None);
        Assert.Multiple(() =>
        {
            Assert.That(undelivered.Select(alert => alert.Alert.AlertId), Is.EqualTo(new[] { "alt_1" }));
            Assert.That(undelivered[0].Deliveries.Select(delivery => (delivery.State, delivery.Attempts, delivery.LastError)),
                Is.EqualTo(new[] { (DeliveryState.Failed, 2, (string?)"HTTP 503") }));
            Assert.That(all.Single(alert => alert.Alert.AlertId == "alt_2").Deliveries.Select(delivery => (delivery.State, delivery.Attempts, delivery.DeliveredAt)),
                Is.EqualTo(new[] { (DeliveryState.Delivered, 1, (DateTimeOffset?)now) }));
        });
    }

    [Test]
    public async Task Pruning_alerts_forgets_old_ones_with_nothing_left_to_send_and_keeps_a_pending_delivery_and_newer_alerts()
    {
        var store = (await OpenAsync()).Alerts;
        var old = DateTimeOffset.FromUnixTimeMilliseconds(1_800_000_000_000);
        var cutoff = old.AddDays(1);
        await store.TryFireAsync(AlertStoreCalls.Alert("alt_delivered", "a", old), ["ops"], CancellationToken.None);
        await store.TryFireAsync(AlertStoreCalls.Alert("alt_pending", "b", old), ["ops"], CancellationToken.None);
        await store.TryFireAsync(AlertStoreCalls.Alert("alt_nowhere", "c", old), [], CancellationToken.None);
        await store.TryFireAsync(AlertStoreCalls.Alert("alt_new", "d", cutoff), ["ops"], CancellationToken.None);
        await store.RecordAttemptAsync("alt_delivered", "ops", new DeliveryOutcome(DeliveryState.Delivered, old, null, null), CancellationToken.None);
        await store.RecordAttemptAsync("alt_new", "ops", new DeliveryOutcome(DeliveryState.Delivered, cutoff, null, null), CancellationToken.None);

        var forgotten = await store.PruneAsync(cutoff, CancellationToken.None);
        var again = await store.PruneAsync(cutoff, CancellationToken.None);

        var left = await store.ListAsync(undeliveredOnly: false, 10, CancellationToken.None);
        Assert.Multiple(() =>
        {
            Assert.That((forgotten, again), Is.EqualTo((2, 0)));
            Assert.That(left.Select(alert => (alert.Alert.AlertId, alert.Deliveries.Count)), Is.EquivalentTo(new[] { ("alt_pending", 1), ("alt_new", 1) }));
        });
    }

    /// <summary>Sealed bytes as a store sees them: opaque, distinct per version.</summary>
    private static SealedSecret Sealed(long version) => new(version, "0123456789abcdef", [.. Enumerable.Repeat((byte)version, 40)]);
}
