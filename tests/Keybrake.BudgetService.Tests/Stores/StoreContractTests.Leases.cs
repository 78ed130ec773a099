using Keybrake.BudgetService.Store;
using static Keybrake.BudgetService.Tests.Stores.StoreCalls;

namespace Keybrake.BudgetService.Tests.Stores;

/// <summary>Budget leases, the same on every engine: sizing, leased calls, returns, expiry, voiding and stranded leases.</summary>
public abstract partial class StoreContractTests
{
    private static readonly TimeSpan s_ttl = TimeSpan.FromSeconds(30);

    private static LeaseCommand Lease(string leaseId, decimal requested, string holder = "sub_a", long sequence = 1, decimal dailyCap = 100, decimal maxSlice = 2,
        string? runId = null, decimal? runCap = null, string clientId = "client", DateTimeOffset? now = null, DateTimeOffset? dayEnd = null, string keyId = "agent") =>
        new(leaseId, sequence, keyId, runId, clientId, holder, holder + " name", Dollars(requested), Today, Dollars(dailyCap), runCap is { } cap ? Dollars(cap) : null,
            RunCapIncludesLlm: false, Dollars(maxSlice), s_ttl, dayEnd ?? Noon.AddHours(12), now ?? Noon);

    private static LeasedCallCommand LeasedCall(string leaseId, decimal estimate, string? runId = null, string? reservationId = null, string? idempotencyKey = null) =>
        new(leaseId, reservationId ?? "rsv_" + Guid.NewGuid().ToString("N"), "agent", runId, idempotencyKey ?? Calls.NewIdempotencyKey(), 7, Dollars(estimate), Noon);

    private static async Task<LeaseTotals> TotalsAsync(IBudgetStore store) =>
        (await store.GetLeaseTotalsAsync(CancellationToken.None)).GetValueOrDefault("agent");

    [Test]
    public async Task A_lease_is_a_fair_share_above_the_tail_and_counts_as_reserved()
    {
        var store = (await OpenAsync()).Budget;
        var first = await store.GrantLeaseAsync(Lease("lse_a", 5), CancellationToken.None);
        var second = await store.GrantLeaseAsync(Lease("lse_b", 5, holder: "sub_b"), CancellationToken.None);

        // $94 more reserved: $100 - $2 - $2 - $94 = $2 left, under the tail of two holders' slices ($4): call by call.
        var big = await store.AuthorizeAsync(Authorize("agent", 94, dailyCap: 100), CancellationToken.None);
        var near = await store.GrantLeaseAsync(Lease("lse_c", 5, holder: "sub_c"), CancellationToken.None);
        var day = await store.DayAsync("agent");
        Assert.Multiple(() =>
        {
            Assert.That((first.Granted, first.AmountMicroUsd, first.ExpiresAt), Is.EqualTo((true, Dollars(2), Noon + s_ttl)), "at most the max slice");
            Assert.That((second.Granted, second.AmountMicroUsd), Is.EqualTo((true, Dollars(2))));
            Assert.That(big.Status, Is.EqualTo(AuthorizeStatus.Reserved));
            Assert.That((near.Granted, near.AmountMicroUsd, near.Reason), Is.EqualTo((false, 0L, LeaseReasons.NearCap)));
            Assert.That(day.ReservedMicroUsd, Is.EqualTo(Dollars(98)), "leases count as reserved");
        });
        Assert.That(await TotalsAsync(store), Is.EqualTo(new LeaseTotals(Dollars(4), 0)));
    }

    [Test]
    public async Task Slices_shrink_to_a_fair_share_as_the_cap_nears()
    {
        var store = (await OpenAsync()).Budget;
        await store.AuthorizeAsync(Authorize("agent", 80, dailyCap: 100), CancellationToken.None);

        // $20 left, max slice $5: one holder gets min(5, (20 - 5) / 1) = $5; with a second holder the tail is $10 and the
        // fair share (15 - 10) / 2 = $2.50.
        var one = await store.GrantLeaseAsync(Lease("lse_1", 5, maxSlice: 5), CancellationToken.None);
        var two = await store.GrantLeaseAsync(Lease("lse_2", 5, holder: "sub_b", maxSlice: 5), CancellationToken.None);
        Assert.Multiple(() =>
        {
            Assert.That(one.AmountMicroUsd, Is.EqualTo(Dollars(5)));
            Assert.That(two.AmountMicroUsd, Is.EqualTo(Dollars(2.5m)));
        });
    }

    [Test]
    public async Task A_retried_grant_gets_the_same_answer_and_counts_once_and_a_top_up_adds()
    {
        var store = (await OpenAsync()).Budget;
        var first = await store.GrantLeaseAsync(Lease("lse_a", 1), CancellationToken.None);
        var retry = await store.GrantLeaseAsync(Lease("lse_a", 1, now: Noon.AddSeconds(5)), CancellationToken.None);
        var recorded = await store.RecordLeasedCallsAsync([LeasedCall("lse_a", 1)], "client", Noon, CancellationToken.None);
        var topUp = await store.GrantLeaseAsync(Lease("lse_a", 1, sequence: 2, now: Noon.AddSeconds(10)), CancellationToken.None);
        var day = await store.DayAsync("agent");
        Assert.Multiple(() =>
        {
            Assert.That(retry, Is.EqualTo(first));
            Assert.That(recorded, Is.EqualTo(new[] { true }));
            Assert.That((topUp.Granted, topUp.AmountMicroUsd, topUp.ExpiresAt), Is.EqualTo((true, Dollars(1), Noon.AddSeconds(10) + s_ttl)), "a top-up extends the lease");
            Assert.That(day.ReservedMicroUsd, Is.EqualTo(Dollars(2)), "the first grant once, the call, the top-up");
        });
    }

    [Test]
    public async Task Leased_calls_move_their_estimate_to_a_reservation_once_and_only_for_the_lease_s_credential()
    {
        var store = (await OpenAsync()).Budget;
        await store.GrantLeaseAsync(Lease("lse_a", 2), CancellationToken.None);
        var call = LeasedCall("lse_a", 1.5m);
        var first = await store.RecordLeasedCallsAsync([call, LeasedCall("lse_a", 1, reservationId: "rsv_other_client")], "client", Noon, CancellationToken.None);
        var again = await store.RecordLeasedCallsAsync([call], "client", Noon, CancellationToken.None);
        var stranger = await store.RecordLeasedCallsAsync([LeasedCall("lse_a", 1)], "other-client", Noon, CancellationToken.None);
        var afterCalls = await store.DayAsync("agent");
        var totals = await TotalsAsync(store);

        // $2 granted; $1.50 moved; the second call needs $1 but the lease holds $0.50: the other $0.50 counts now.
        var settled = await store.SettleAsync(Commit(call.ReservationId, 1.2m));
        var afterSettle = await store.DayAsync("agent");
        var pending = await store.ListUnsettledAsync("agent", CancellationToken.None);
        Assert.Multiple(() =>
        {
            Assert.That(first, Is.EqualTo(new[] { true, true }));
            Assert.That(again, Is.EqualTo(new[] { false }), "idempotent by reservation id");
            Assert.That(stranger, Is.EqualTo(new[] { false }), "another credential's lease");
            Assert.That(afterCalls.ReservedMicroUsd, Is.EqualTo(Dollars(2.5m)));
            Assert.That(totals.OutstandingMicroUsd, Is.Zero);
            Assert.That(settled.Status, Is.EqualTo(SettleStatus.Settled));
            Assert.That((afterSettle.SettledMicroUsd, afterSettle.ReservedMicroUsd), Is.EqualTo((Dollars(1.2m), Dollars(1))), "settles like any reservation");
            Assert.That(pending.Select(r => r.ReservationId), Is.EquivalentTo(new[] { "rsv_other_client" }));
        });
    }

    [Test]
    public async Task Returning_expiring_and_voiding_leases_free_what_they_still_hold()
    {
        var store = (await OpenAsync()).Budget;
        await store.GrantLeaseAsync(Lease("lse_r", 2), CancellationToken.None);
        await store.GrantLeaseAsync(Lease("lse_e", 2, holder: "sub_b", now: Noon.AddSeconds(1)), CancellationToken.None);
        await store.GrantLeaseAsync(Lease("lse_v", 2, holder: "sub_c", now: Noon.AddSeconds(40)), CancellationToken.None);
        await store.RecordLeasedCallsAsync([LeasedCall("lse_r", 0.5m)], "client", Noon, CancellationToken.None);

        var strangerReturn = await store.ReturnLeasesAsync(["lse_r"], "other-client", Noon, CancellationToken.None);
        var returned = await store.ReturnLeasesAsync(["lse_r", "lse_r"], "client", Noon.AddSeconds(2), CancellationToken.None);
        var returnedAgain = await store.ReturnLeasesAsync(["lse_r"], "client", Noon.AddSeconds(2), CancellationToken.None);
        var notYet = await store.ExpireLeasesAsync(Noon.AddSeconds(30), CancellationToken.None);
        var expired = await store.ExpireLeasesAsync(Noon.AddSeconds(31), CancellationToken.None);
        await store.SetRevokedAsync("agent", true, Noon.AddSeconds(45), CancellationToken.None);
        var voided = await store.VoidLeasesAsync("agent", Noon.AddSeconds(45), CancellationToken.None);
        var refused = await store.GrantLeaseAsync(Lease("lse_after", 2, now: Noon.AddSeconds(46)), CancellationToken.None);
        var day = await store.DayAsync("agent");
        var all = await store.ListLeasesAsync("agent", includeEnded: true, 10, CancellationToken.None);
        var active = await store.ListLeasesAsync(null, includeEnded: false, 10, CancellationToken.None);
        Assert.Multiple(() =>
        {
            Assert.That(strangerReturn, Is.Empty);
            Assert.That(returned, Is.EqualTo(new[] { new EndedLease("lse_r", "agent", null, Dollars(1.5m)) }));
            Assert.That(returnedAgain, Is.Empty);
            Assert.That(notYet, Is.Empty);
            Assert.That(expired.Select(l => l.LeaseId), Is.EqualTo(new[] { "lse_e" }));
            Assert.That(voided.Select(l => (l.LeaseId, l.FreedMicroUsd)), Is.EqualTo(new[] { ("lse_v", Dollars(2)) }));
            Assert.That(refused.Reason, Is.EqualTo(LeaseReasons.Revoked));
            Assert.That(day.ReservedMicroUsd, Is.EqualTo(Dollars(0.5m)), "only the leased call's reservation");
            Assert.That(all.Select(l => (l.LeaseId, l.State)), Is.EqualTo(new[] { ("lse_v", LeaseState.Voided), ("lse_e", LeaseState.Expired), ("lse_r", LeaseState.Returned) }));
            Assert.That(all[2].UsedMicroUsd, Is.EqualTo(Dollars(0.5m)));
            Assert.That(active, Is.Empty);
        });
    }

    [Test]
    public async Task Voiding_a_credential_s_leases_ends_them_on_every_key_and_leaves_other_credentials_leases()
    {
        var store = (await OpenAsync()).Budget;
        await store.GrantLeaseAsync(Lease("lse_mine_agent", 2), CancellationToken.None);
        await store.GrantLeaseAsync(Lease("lse_mine_other", 1.5m, holder: "sub_b", keyId: "other"), CancellationToken.None);
        await store.GrantLeaseAsync(Lease("lse_theirs", 2, holder: "sub_c", clientId: "other-client"), CancellationToken.None);
        await store.RecordLeasedCallsAsync([LeasedCall("lse_mine_agent", 0.5m)], "client", Noon, CancellationToken.None);

        var voided = await store.VoidClientLeasesAsync("client", Noon.AddSeconds(5), CancellationToken.None);
        var again = await store.VoidClientLeasesAsync("client", Noon.AddSeconds(6), CancellationToken.None);
        var none = await store.VoidClientLeasesAsync("no-such-client", Noon.AddSeconds(6), CancellationToken.None);
        var agentDay = await store.DayAsync("agent");
        var otherDay = await store.DayAsync("other");
        var all = await store.ListLeasesAsync(null, includeEnded: true, 10, CancellationToken.None);
        var totals = await store.GetLeaseTotalsAsync(CancellationToken.None);
        Assert.Multiple(() =>
        {
            Assert.That(voided.Select(l => (l.LeaseId, l.KeyId, l.FreedMicroUsd)),
                Is.EquivalentTo(new[] { ("lse_mine_agent", "agent", Dollars(1.5m)), ("lse_mine_other", "other", Dollars(1.5m)) }));
            Assert.That(again, Is.Empty, "voided once");
            Assert.That(none, Is.Empty);
            Assert.That(agentDay.ReservedMicroUsd, Is.EqualTo(Dollars(2.5m)), "the other credential's lease and the leased call's reservation");
            Assert.That(otherDay.ReservedMicroUsd, Is.Zero);
            Assert.That(all.ToDictionary(l => l.LeaseId, l => (l.State, l.EndedAt)), Is.EquivalentTo(new Dictionary<string, (LeaseState, DateTimeOffset?)>
            {
                ["lse_mine_agent"] = (LeaseState.Voided, Noon.AddSeconds(5)),
                ["lse_mine_other"] = (LeaseState.Voided, Noon.AddSeconds(5)),
                ["lse_theirs"] = (LeaseState.Active, null),
            }));
            Assert.That(totals.Keys, Is.EqualTo(new[] { "agent" }));
            Assert.That(totals["agent"], Is.EqualTo(new LeaseTotals(Dollars(2), 0)));
        });
    }

    [Test]
    public async Task A_lease_ends_at_its_day_s_end_and_a_top_up_of_an_ended_lease_is_refused()
    {
        var store = (await OpenAsync()).Budget;
        var dayEnd = Noon.AddSeconds(10);
        var grant = await store.GrantLeaseAsync(Lease("lse_a", 1, dayEnd: dayEnd), CancellationToken.None);
        var expired = await store.ExpireLeasesAsync(dayEnd, CancellationToken.None);
        var topUp = await store.GrantLeaseAsync(Lease("lse_a", 1, sequence: 2, now: dayEnd.AddSeconds(1)), CancellationToken.None);
        Assert.Multiple(() =>
        {
            Assert.That(grant.ExpiresAt, Is.EqualTo(dayEnd));
            Assert.That(expired.Select(l => l.LeaseId), Is.EqualTo(new[] { "lse_a" }));
            Assert.That((topUp.Granted, topUp.Reason), Is.EqualTo((false, LeaseReasons.Ended)));
        });
    }

    [Test]
    public async Task A_run_lease_is_bounded_by_the_run_cap_too()
    {
        var store = (await OpenAsync()).Budget;
        var grant = await store.GrantLeaseAsync(Lease("lse_run", 5, maxSlice: 5, runId: "run-1", runCap: 6), CancellationToken.None);
        await store.RecordLeasedCallsAsync([LeasedCall("lse_run", 1, runId: "run-1")], "client", Noon, CancellationToken.None);
        var run = await store.GetRunSpendAsync("agent", "run-1", CancellationToken.None);
        var recall = await store.HasOutstandingLeasesAsync("agent", "run-1", CancellationToken.None);
        var otherRun = await store.HasOutstandingLeasesAsync("agent", "run-2", CancellationToken.None);
        Assert.Multiple(() =>
        {
            Assert.That(grant.AmountMicroUsd, Is.EqualTo(Dollars(1)), "$6 run cap less the tail of one $5 slice");
            Assert.That(run.ReservedMicroUsd, Is.EqualTo(Dollars(1)));
            Assert.That(recall, Is.False, "the lease is used up");
            Assert.That(otherRun, Is.False);
        });
    }

    [Test]
    public async Task A_lease_whose_holder_s_stream_ended_is_stranded_until_its_holder_tops_it_up()
    {
        var store = (await OpenAsync()).Budget;
        await store.GrantLeaseAsync(Lease("lse_a", 2), CancellationToken.None);
        await store.GrantLeaseAsync(Lease("lse_b", 2, holder: "sub_b"), CancellationToken.None);
        var marked = await store.MarkHolderGoneAsync("sub_a", true, Noon, CancellationToken.None);
        var stranded = await TotalsAsync(store);
        var listed = await store.ListLeasesAsync("agent", includeEnded: false, 10, CancellationToken.None);
        await store.RecordLeasedCallsAsync([LeasedCall("lse_a", 1)], "client", Noon, CancellationToken.None);
        await store.GrantLeaseAsync(Lease("lse_a", 1, holder: "sub_a2", sequence: 2), CancellationToken.None);
        var back = await TotalsAsync(store);
        Assert.Multiple(() =>
        {
            Assert.That(marked, Is.EqualTo(1));
            Assert.That(stranded, Is.EqualTo(new LeaseTotals(Dollars(4), Dollars(2))));
            Assert.That(listed.Single(l => l.LeaseId == "lse_a").Stranded, Is.True);
            Assert.That(listed.Single(l => l.LeaseId == "lse_b").Stranded, Is.False);
            Assert.That(back, Is.EqualTo(new LeaseTotals(Dollars(4), 0)));
        });
    }

    [Test]
    public async Task Ended_leases_are_forgotten_with_finished_reservations_and_active_ones_never()
    {
        var store = (await OpenAsync()).Budget;
        await store.GrantLeaseAsync(Lease("lse_old", 1), CancellationToken.None);
        await store.GrantLeaseAsync(Lease("lse_kept", 1, holder: "sub_b"), CancellationToken.None);
        await store.ReturnLeasesAsync(["lse_old"], "client", Noon, CancellationToken.None);

        await store.PruneFinishedAsync(Noon.AddSeconds(1), CancellationToken.None);
        var left = await store.ListLeasesAsync("agent", includeEnded: true, 10, CancellationToken.None);
        Assert.That(left.Select(l => (l.LeaseId, l.State)), Is.EqualTo(new[] { ("lse_kept", LeaseState.Active) }));
    }
}
