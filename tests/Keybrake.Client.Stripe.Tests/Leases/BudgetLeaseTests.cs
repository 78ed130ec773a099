using Keybrake.Client.Stripe.Tests.Vault;
using Keybrake.Client.TestUtilities;
using Keybrake.Client.TestUtilities.FakeBudget;
using Keybrake.Client.TestUtilities.Stripe;
using Keybrake.Protocol;

namespace Keybrake.Client.Stripe.Tests.Leases;

/// <summary>
/// Budget leases on the guard's side: the real Stripe.net client through the guard in central mode, against a WireMock
/// stand-in for Stripe and the hand-written fake budget service on a real Kestrel port. The fake grants leases, records
/// the leased calls, settlements and returns the guard sends in its Settle batches, and sends the recall, return,
/// policy and revocation events the tests ask for.
/// </summary>
public sealed class BudgetLeaseTests
{
    private const string KeyId = VaultStripeHost.KeyId;
    private const string LocalSecret = "sk_test_51LeaseTestsSecretOfTheProcessItself0001";
    private const long Dollar = 1_000_000;

    [Test]
    public async Task With_leasing_on_charges_make_one_Lease_request_no_Authorize_and_the_leased_calls_reach_the_service_before_their_settlements()
    {
        using var stub = StripeStub.Start();
        await using var service = await StartServiceAsync(new LeasePolicy { Enabled = true, MaxSliceMicroUsd = 200 * Dollar });
        await using var host = await StartHostAsync(service, stub);

        for (var i = 1; i <= 10; i++)
        {
            Assert.That(await host.ChargeAsync(300, $"lease-{i}"), Is.Null);
        }

        var state = service.State;
        Assert.That(await state.WaitForAsync(s => s.LeasedCalls.Count == 10 && SettledIds(s).Count == 10), Is.True, "every leased call and its settlement reached the service");
        var leaseId = state.LeaseRequests.Single().LeaseId;
        Assert.Multiple(() =>
        {
            Assert.That(state.Authorizations, Is.Empty, "no call went to Authorize");
            Assert.That(state.LeasedCalls.Select(c => c.LeaseId), Has.All.EqualTo(leaseId));
            Assert.That(state.LeasedCalls.Select(c => c.ReservationId), Has.All.StartsWith("rsv_"));
            Assert.That(state.LeasedCalls.Select(c => c.IdempotencyKey), Is.EquivalentTo(Enumerable.Range(1, 10).Select(i => $"lease-{i}")));
            Assert.That(SettledIds(state), Is.EquivalentTo(state.LeasedCalls.Select(c => c.ReservationId)), "each settlement names its leased call's reservation");
            Assert.That(state.SettleRequests.Count, Is.LessThan(20), "leased calls and settlements go in Settle batches, not an RPC each");
            Assert.That(stub.Received.Count(r => r.Path == "/v1/charges"), Is.EqualTo(10));
            Assert.That(host.Audit.Records.Where(r => r.Decision == "allow").Select(r => r.Message), Has.All.Contains($"decided on lease {leaseId}"));
        });

        // In the order the service applies them, a settlement never comes before its leased call.
        foreach (var leased in state.LeasedCalls)
        {
            var carriedIn = IndexOf(state, r => r.LeasedCalls.Any(c => c.ReservationId == leased.ReservationId));
            var settledIn = IndexOf(state, r => r.Settlements.Any(s => s.ReservationId == leased.ReservationId));
            Assert.That(carriedIn, Is.LessThanOrEqualTo(settledIn), $"reservation {leased.ReservationId}");
        }
    }

    [Test]
    public async Task Concurrent_charges_never_spend_more_on_a_lease_than_it_was_granted_nor_more_than_the_cap()
    {
        using var stub = StripeStub.Start();
        await using var service = await StartServiceAsync(new LeasePolicy { Enabled = true, MaxSliceMicroUsd = 50 * Dollar }, dailyCapMicros: 50 * Dollar);
        await using var host = await StartHostAsync(service, stub);

        var denials = await Task.WhenAll(Enumerable.Range(1, 20).Select(i => host.ChargeAsync(700, $"exact-{i}")));

        var state = service.State;
        var allowed = denials.Count(d => d is null);
        Assert.That(await state.WaitForAsync(s => SettledIds(s).Count >= s.LeasedCalls.Count), Is.True);
        Assert.Multiple(() =>
        {
            Assert.That(allowed, Is.EqualTo(7), "seven $7 charges fit in $50");
            Assert.That(stub.Received.Count(r => r.Path == "/v1/charges"), Is.EqualTo(allowed));
            Assert.That(denials.Where(d => d is not null).Select(d => d!.Reason), Has.All.EqualTo("daily_cap_exceeded"));
            foreach (var lease in state.LeasedCalls.GroupBy(c => c.LeaseId))
            {
                Assert.That(lease.Sum(c => c.EstimateMicroUsd), Is.LessThanOrEqualTo(Granted(state, lease.Key)), $"lease {lease.Key}");
            }

            Assert.That(state.CommittedMicros(KeyId), Is.LessThanOrEqualTo(50 * Dollar));
        });
    }

    [Test]
    public async Task A_lease_running_low_is_topped_up_in_the_background_under_the_same_id()
    {
        using var stub = StripeStub.Start();
        await using var service = await StartServiceAsync(new LeasePolicy { Enabled = true, MaxSliceMicroUsd = 20 * Dollar });
        await using var host = await StartHostAsync(service, stub);

        // $12 of $20 used: what is left ($8) is under half of the grant, so a top-up goes out.
        for (var i = 1; i <= 4; i++)
        {
            Assert.That(await host.ChargeAsync(300, $"top-{i}"), Is.Null);
        }

        var state = service.State;
        Assert.That(await state.WaitForAsync(s => s.LeaseRequests.Count == 2), Is.True, "a top-up was asked for");
        var remaining = await Poll.UntilAsync(() => host.Ledger.Leases.RemainingMicros(KeyId), left => left > 8 * Dollar);
        Assert.That(await host.ChargeAsync(300, "top-5"), Is.Null);

        var requests = state.LeaseRequests;
        Assert.Multiple(() =>
        {
            Assert.That(requests.Select(r => r.LeaseId).Distinct().Count(), Is.EqualTo(1), "a top-up is of the same lease");
            Assert.That(requests.Select(r => r.Sequence), Is.EqualTo(new long[] { 1, 2 }));
            Assert.That(requests[1].RequestedMicroUsd, Is.EqualTo(12 * Dollar), "asks for what brings the lease back to its largest slice");
            Assert.That(remaining, Is.EqualTo(20 * Dollar), "$8 left + $12 granted");
            Assert.That(state.Authorizations, Is.Empty);
        });
    }

    [Test]
    public async Task A_call_that_does_not_fit_in_the_lease_goes_to_Authorize_and_leaves_the_lease_as_it_was()
    {
        using var stub = StripeStub.Start();
        await using var service = await StartServiceAsync(new LeasePolicy { Enabled = true, MaxSliceMicroUsd = 10 * Dollar });
        await using var host = await StartHostAsync(service, stub);
        Assert.That(await host.ChargeAsync(100, "small"), Is.Null);

        Assert.That(await host.ChargeAsync(1500, "large"), Is.Null);

        // What did not fit also asks for a top-up, in the background: the lease back to its largest slice.
        var state = service.State;
        Assert.That(await state.WaitForAsync(s => s.LeaseRequests.Count == 2 && s.LeasedCalls.Count == 1), Is.True);
        Assert.Multiple(() =>
        {
            Assert.That(state.Authorizations.Select(a => a.IdempotencyKey), Is.EqualTo(new[] { "large" }));
            Assert.That(state.Authorizations.Single().EstimateMicroUsd, Is.EqualTo(15 * Dollar));
            Assert.That(state.LeasedCalls.Single().IdempotencyKey, Is.EqualTo("small"));
            Assert.That(state.LeaseRequests[1].RequestedMicroUsd, Is.EqualTo(1 * Dollar));
            Assert.That(host.Audit.Records.Single(r => r.IdempotencyKey == "large").Message ?? string.Empty, Does.Not.Contain("decided on lease"));
        });
    }

    [Test]
    public async Task LEASES_RECALLED_stops_decisions_on_the_lease_before_it_is_confirmed_and_gives_it_back_after_its_calls()
    {
        using var stub = StripeStub.Start();
        await using var service = await StartServiceAsync(new LeasePolicy { Enabled = true, MaxSliceMicroUsd = 100 * Dollar });
        await using var host = await StartHostAsync(service, stub);
        Assert.That(await host.ChargeAsync(500, "before-recall"), Is.Null);
        var leaseId = host.Ledger.Leases.LeaseOf(KeyId);
        Assert.That(leaseId, Is.Not.Null);

        var state = service.State;
        var recall = state.Recall(KeyId);
        Assert.That(await state.WaitForAcknowledgementAsync(recall), Is.True);
        var heldAfterRecall = host.Ledger.Leases.LeaseOf(KeyId);
        Assert.That(await host.ChargeAsync(500, "after-recall"), Is.Null);

        Assert.That(await state.WaitForAsync(s => s.ReturnedLeases.Contains(leaseId!)), Is.True, "the lease was given back");
        Assert.Multiple(() =>
        {
            Assert.That(heldAfterRecall, Is.Not.EqualTo(leaseId), "the recalled lease was dropped before the event was confirmed");
            Assert.That(state.LeasedCalls.Where(c => c.LeaseId == leaseId).Select(c => c.IdempotencyKey), Is.EqualTo(new[] { "before-recall" }), "nothing decided on it after the recall");
            Assert.That(
                IndexOf(state, r => r.ReturnedLeases.Contains(leaseId!)),
                Is.GreaterThanOrEqualTo(IndexOf(state, r => r.LeasedCalls.Any(c => c.LeaseId == leaseId))),
                "the return comes after the lease's calls");
            Assert.That(state.OutstandingMicros(leaseId!), Is.Zero);
        });
    }

    [Test]
    public async Task A_call_denied_while_leases_are_recalled_waits_for_LEASE_RETURNED_and_asks_once_more_with_the_same_idempotency_key()
    {
        using var stub = StripeStub.Start();

        // The whole $30 cap leased to the first process: the second is refused a lease (near_cap) and asks Authorize.
        await using var service = await StartServiceAsync(new LeasePolicy { Enabled = true, MaxSliceMicroUsd = 30 * Dollar }, dailyCapMicros: 30 * Dollar);
        service.State.RecallWaitMilliseconds = 30_000; // the wait ends at the event: a generous bound keeps a loaded machine from timing out first
        await using var holder = await StartHostAsync(service, stub);
        Assert.That(await holder.ChargeAsync(500, "holder-1"), Is.Null);
        var leaseId = holder.Ledger.Leases.LeaseOf(KeyId)!;
        await using var other = await StartHostAsync(service, stub, streams: 2);

        var denied = await other.ChargeAsync(1000, "other-1");

        var state = service.State;
        var journal = state.Journal.ToList();
        Assert.Multiple(() =>
        {
            Assert.That(denied, Is.Null, "allowed on the second ask, once the lease was given back");
            Assert.That(state.Authorizations.Count(a => a.IdempotencyKey == "other-1"), Is.EqualTo(2), "asked twice, with the same idempotency key");
            Assert.That(journal.IndexOf("authorize:other-1:denied"), Is.LessThan(journal.IndexOf($"returned:{leaseId}")));
            Assert.That(journal.IndexOf($"returned:{leaseId}"), Is.LessThan(journal.IndexOf("authorize:other-1:allowed")));
            Assert.That(state.CommittedMicros(KeyId), Is.EqualTo(15 * Dollar), "$5 on the lease, $10 through Authorize");
        });
    }

    [Test]
    public async Task A_call_denied_again_after_the_recall_wait_is_not_asked_a_third_time()
    {
        using var stub = StripeStub.Start();
        await using var service = await StartServiceAsync(new LeasePolicy { Enabled = true, MaxSliceMicroUsd = 30 * Dollar }, dailyCapMicros: 30 * Dollar);
        service.State.RecallWaitMilliseconds = 200; // the wait ends at the event; this bound only keeps a lost one short
        await using var holder = await StartHostAsync(service, stub);
        Assert.That(await holder.ChargeAsync(500, "holder-1"), Is.Null);

        // At $26 the call is over the cap even once the holder has given its lease back ($5 spent): denied twice.
        await using var other = await StartHostAsync(service, stub, streams: 2);
        var denied = await other.ChargeAsync(2600, "too-big");

        Assert.Multiple(() =>
        {
            Assert.That(denied?.Reason, Is.EqualTo("daily_cap_exceeded"));
            Assert.That(service.State.Authorizations.Count(a => a.IdempotencyKey == "too-big"), Is.EqualTo(2), "one more ask, never a third");
        });
    }

    [Test]
    public async Task A_revocation_drops_the_lease_before_the_event_is_confirmed_and_the_next_call_is_denied()
    {
        using var stub = StripeStub.Start();
        await using var service = await StartServiceAsync(new LeasePolicy { Enabled = true, MaxSliceMicroUsd = 100 * Dollar });
        await using var host = await StartHostAsync(service, stub);
        Assert.That(await host.ChargeAsync(500, "before-revocation"), Is.Null);
        var leaseId = host.Ledger.Leases.LeaseOf(KeyId);
        Assert.That(leaseId, Is.Not.Null);

        var revocation = service.State.Revoke(KeyId);
        Assert.That(await service.State.WaitForAcknowledgementAsync(revocation), Is.True);
        var heldAfterRevocation = host.Ledger.Leases.LeaseOf(KeyId);
        var after = await host.ChargeAsync(500, "after-revocation");

        Assert.Multiple(() =>
        {
            Assert.That(heldAfterRevocation, Is.Null, "dropped before the revocation was confirmed");
            Assert.That(after?.Reason, Is.EqualTo("key_revoked"));
            Assert.That(service.State.LeasedCalls.Select(c => c.IdempotencyKey), Has.None.EqualTo("after-revocation"));
            Assert.That(stub.Received.Count(r => r.Path == "/v1/charges"), Is.EqualTo(1));
        });
    }

    [Test]
    public async Task A_revoked_client_credential_drops_every_lease_before_the_event_is_confirmed()
    {
        using var stub = StripeStub.Start();
        await using var service = await StartServiceAsync(new LeasePolicy { Enabled = true, MaxSliceMicroUsd = 100 * Dollar });
        await using var host = await StartHostAsync(service, stub);
        Assert.That(await host.ChargeAsync(500, "before"), Is.Null);
        Assert.That(host.Ledger.Leases.LeaseOf(KeyId), Is.Not.Null);

        var revocation = service.State.RevokeClient();
        Assert.That(await service.State.WaitForAcknowledgementAsync(revocation), Is.True);
        var heldAfter = host.Ledger.Leases.LeaseOf(KeyId);
        var after = await host.ChargeAsync(500, "after");

        Assert.Multiple(() =>
        {
            Assert.That(heldAfter, Is.Null);
            Assert.That(after, Is.Not.Null, "no call is allowed once the credential is revoked");
            Assert.That(stub.Received.Count(r => r.Path == "/v1/charges"), Is.EqualTo(1));
        });
    }

    [Test]
    public async Task During_an_outage_a_valid_lease_keeps_deciding_and_once_used_up_money_calls_fail_closed()
    {
        using var stub = StripeStub.Start();
        var service = await StartServiceAsync(new LeasePolicy { Enabled = true, MaxSliceMicroUsd = 20 * Dollar, TtlMilliseconds = 120_000 });
        await using var host = await StartHostAsync(service, stub);
        Assert.That(await host.ChargeAsync(300, "before-outage"), Is.Null);
        Assert.That(host.Ledger.Leases.RemainingMicros(KeyId), Is.EqualTo(17 * Dollar));
        Assert.That(await service.State.WaitForAsync(s => s.LeasedCalls.Count == 1), Is.True);

        await service.DisposeAsync(); // the service is gone: nothing answers on its port

        var during = new List<VaultStripeHost.Denied?>();
        for (var i = 1; i <= 6; i++)
        {
            during.Add(await host.ChargeAsync(300, $"outage-{i}"));
        }

        Assert.Multiple(() =>
        {
            Assert.That(during.Take(5), Has.All.Null, "$15 more fit in the $17 left on the lease");
            Assert.That(during[5]?.Reason, Is.EqualTo("budget_service_unavailable"), "used up: the call fails closed");
            Assert.That(stub.Received.Count(r => r.Path == "/v1/charges"), Is.EqualTo(6));
            Assert.That(host.Ledger.PendingSettlements, Is.GreaterThan(0), "the leased calls and settlements wait for the service");
        });
    }

    [Test]
    public async Task Disposing_the_guard_gives_its_leases_back_after_the_calls_decided_on_them()
    {
        using var stub = StripeStub.Start();
        await using var service = await StartServiceAsync(new LeasePolicy { Enabled = true, MaxSliceMicroUsd = 100 * Dollar });
        var host = await StartHostAsync(service, stub);
        Assert.That(await host.ChargeAsync(500, "last"), Is.Null);
        var leaseId = host.Ledger.Leases.LeaseOf(KeyId)!;

        await host.DisposeAsync();

        var state = service.State;
        Assert.Multiple(() =>
        {
            Assert.That(state.ReturnedLeases, Does.Contain(leaseId));
            Assert.That(state.LeasedCalls.Select(c => c.IdempotencyKey), Is.EqualTo(new[] { "last" }));
            Assert.That(state.OutstandingMicros(leaseId), Is.Zero);
            Assert.That(state.CommittedMicros(KeyId), Is.EqualTo(5 * Dollar), "only the call's estimate still counts");
        });
    }

    [Test]
    public async Task A_retry_with_the_same_idempotency_key_reuses_the_leased_reservation_and_never_reserves_twice()
    {
        using var stub = StripeStub.Start();
        await using var service = await StartServiceAsync(new LeasePolicy { Enabled = true, MaxSliceMicroUsd = 100 * Dollar });
        await using var host = await StartHostAsync(service, stub);

        Assert.That(await host.ChargeAsync(800, "same"), Is.Null);
        var left = host.Ledger.Leases.RemainingMicros(KeyId);
        Assert.That(await host.ChargeAsync(800, "same"), Is.Null);

        var state = service.State;
        Assert.That(await state.WaitForAsync(s => SettledIds(s).Count >= 1), Is.True);
        Assert.Multiple(() =>
        {
            Assert.That(host.Ledger.Leases.RemainingMicros(KeyId), Is.EqualTo(left), "nothing more taken from the lease");
            Assert.That(state.LeasedCalls.Count(c => c.IdempotencyKey == "same"), Is.EqualTo(1));
            Assert.That(state.Authorizations, Is.Empty);
            Assert.That(host.Audit.Records.Count(r => r.Decision == "allow"), Is.EqualTo(2));
        });
    }

    [Test]
    public async Task A_retry_with_the_same_idempotency_key_and_a_different_request_is_refused()
    {
        using var stub = StripeStub.Start();
        await using var service = await StartServiceAsync(new LeasePolicy { Enabled = true, MaxSliceMicroUsd = 100 * Dollar });
        await using var host = await StartHostAsync(service, stub);

        Assert.That(await host.ChargeAsync(800, "reused"), Is.Null);
        var denied = await host.ChargeAsync(900, "reused");

        Assert.Multiple(() =>
        {
            Assert.That(denied?.Reason, Is.EqualTo("malformed_request"));
            Assert.That(service.State.Authorizations, Is.Empty);
        });
    }

    [Test]
    public async Task In_automatic_mode_the_guard_leases_only_once_it_makes_more_than_twenty_money_calls_a_second_on_the_key()
    {
        using var stub = StripeStub.Start();
        await using var service = await StartServiceAsync(lease: null);
        await using var host = await StartHostAsync(service, stub);
        var state = service.State;

        // Twenty calls can never be more than twenty in one second, however fast they come.
        for (var i = 1; i <= 20; i++)
        {
            Assert.That(await host.ChargeAsync(100, $"slow-{i}"), Is.Null);
        }

        var leaseRequestsAtTwenty = state.LeaseRequests.Count;

        // Bursts until the rate passes twenty a second on this machine, however loaded (a burst normally does at once).
        for (var burst = 0; burst < 20 && host.Ledger.Leases.LeaseOf(KeyId) is null; burst++)
        {
            var denials = await Task.WhenAll(Enumerable.Range(1, 30).Select(i => host.ChargeAsync(100, $"burst-{burst}-{i}")));
            Assert.That(denials, Has.All.Null);
        }

        var leaseId = host.Ledger.Leases.LeaseOf(KeyId);
        var authorizations = state.Authorizations.Count;
        Assert.That(await host.ChargeAsync(100, "on-lease"), Is.Null);

        Assert.Multiple(() =>
        {
            Assert.That(leaseRequestsAtTwenty, Is.Zero, "no lease at twenty calls");
            Assert.That(authorizations, Is.GreaterThanOrEqualTo(20));
            Assert.That(leaseId, Is.Not.Null, "leased once the calls came faster");
            Assert.That(state.Authorizations.Count, Is.EqualTo(authorizations), "the next call is decided on the lease");
        });
    }

    [Test]
    public async Task A_process_that_turns_leasing_off_for_itself_never_asks_for_a_lease()
    {
        using var stub = StripeStub.Start();
        await using var service = await StartServiceAsync(new LeasePolicy { Enabled = false });
        await using var host = await StartHostAsync(service, stub);

        var denials = await Task.WhenAll(Enumerable.Range(1, 30).Select(i => host.ChargeAsync(100, $"off-{i}")));

        Assert.Multiple(() =>
        {
            Assert.That(denials, Has.All.Null);
            Assert.That(service.State.LeaseRequests, Is.Empty);
            Assert.That(service.State.Authorizations, Has.Count.EqualTo(30));
        });
    }

    [Test]
    public async Task A_policy_change_gives_the_lease_back_and_the_new_policy_applies()
    {
        using var stub = StripeStub.Start();
        await using var service = await StartServiceAsync(new LeasePolicy { Enabled = true, MaxSliceMicroUsd = 100 * Dollar });
        await using var host = await StartHostAsync(service, stub);
        Assert.That(await host.ChargeAsync(500, "leased"), Is.Null);
        var leaseId = host.Ledger.Leases.LeaseOf(KeyId)!;

        var change = service.State.ChangeLeasePolicy(KeyId, new LeasePolicy { Enabled = false });
        Assert.That(await service.State.WaitForAcknowledgementAsync(change), Is.True);
        var heldAfter = host.Ledger.Leases.LeaseOf(KeyId);
        Assert.That(await host.ChargeAsync(500, "after-change"), Is.Null);

        Assert.That(await service.State.WaitForAsync(s => s.ReturnedLeases.Contains(leaseId)), Is.True);
        Assert.Multiple(() =>
        {
            Assert.That(heldAfter, Is.Null);
            Assert.That(service.State.Authorizations.Select(a => a.IdempotencyKey), Is.EqualTo(new[] { "after-change" }));
            Assert.That(service.State.LeaseRequests, Has.Count.EqualTo(1));
        });
    }

    [Test]
    public async Task A_call_in_a_run_is_decided_only_on_the_lease_of_its_run()
    {
        using var stub = StripeStub.Start();
        await using var service = await StartServiceAsync(new LeasePolicy { Enabled = true, MaxSliceMicroUsd = 100 * Dollar });
        await using var host = await StartHostAsync(service, stub);

        Assert.That(await host.ChargeAsync(500, "outside"), Is.Null);
        using (KeybrakeRun.Begin("run_lease_a"))
        {
            Assert.That(await host.ChargeAsync(500, "in-a-1"), Is.Null);
            Assert.That(await host.ChargeAsync(500, "in-a-2"), Is.Null);
        }

        var state = service.State;
        Assert.That(await state.WaitForAsync(s => s.LeasedCalls.Count == 3), Is.True);
        var keyLease = state.LeaseRequests.Single(r => r.RunId.Length == 0).LeaseId;
        var runLease = state.LeaseRequests.Single(r => r.RunId == "run_lease_a").LeaseId;
        Assert.Multiple(() =>
        {
            Assert.That(runLease, Is.Not.EqualTo(keyLease));
            Assert.That(state.LeasedCalls.Single(c => c.IdempotencyKey == "outside").LeaseId, Is.EqualTo(keyLease));
            Assert.That(state.LeasedCalls.Where(c => c.RunId == "run_lease_a").Select(c => c.LeaseId), Is.EqualTo(new[] { runLease, runLease }));
            Assert.That(host.Ledger.Leases.RemainingMicros(KeyId), Is.EqualTo(95 * Dollar));
            Assert.That(host.Ledger.Leases.RemainingMicros(KeyId, "run_lease_a"), Is.EqualTo(90 * Dollar));
        });
    }

    [Test]
    public async Task A_lease_is_used_until_its_send_time_plus_TTL_minus_the_margin_then_given_back_and_a_new_one_taken()
    {
        using var stub = StripeStub.Start();

        // A 3 s TTL with its 1 s margin: used for 2 s after it was asked for (before it could count as idle, 2 s after
        // its grant arrived). The id comes from the request: on a loaded machine the first call may outlast the lease.
        await using var service = await StartServiceAsync(new LeasePolicy { Enabled = true, MaxSliceMicroUsd = 100 * Dollar, TtlMilliseconds = 3_000 });
        await using var host = await StartHostAsync(service, stub);
        Assert.That(await host.ChargeAsync(500, "first"), Is.Null);
        var first = service.State.LeaseRequests[0].LeaseId;

        Assert.That(await service.State.WaitForAsync(s => s.ReturnedLeases.Contains(first)), Is.True, "given back once expired here");
        Assert.That(await host.ChargeAsync(500, "second"), Is.Null);

        Assert.Multiple(() =>
        {
            Assert.That(host.Logs.Logs.Any(l => l.EventId.Id == 392 && l.Message.Contains(first, StringComparison.Ordinal) && l.Message.Contains("expired", StringComparison.Ordinal)), Is.True);
            Assert.That(service.State.LeaseRequests.Select(r => r.LeaseId).Distinct().Count(), Is.GreaterThanOrEqualTo(2), "a new lease, not a revival");
            Assert.That(service.State.LeaseRequests.Where(r => r.LeaseId == first).Select(r => r.Sequence), Has.None.GreaterThan(1), "the expired lease is not topped up");
            Assert.That(service.State.LeasedCalls.Where(c => c.IdempotencyKey == "second").Select(c => c.LeaseId), Has.None.EqualTo(first));
        });
    }

    [Test]
    public async Task An_idle_lease_is_given_back()
    {
        using var stub = StripeStub.Start();

        // An 8 s TTL: idle after 2 s without a decision, well before it expires (7 s).
        await using var service = await StartServiceAsync(new LeasePolicy { Enabled = true, MaxSliceMicroUsd = 100 * Dollar, TtlMilliseconds = 8_000 });
        await using var host = await StartHostAsync(service, stub);
        Assert.That(await host.ChargeAsync(500, "only"), Is.Null);
        var leaseId = service.State.LeaseRequests[0].LeaseId;

        Assert.That(await service.State.WaitForAsync(s => s.ReturnedLeases.Contains(leaseId)), Is.True);
        Assert.Multiple(() =>
        {
            Assert.That(host.Ledger.Leases.LeaseOf(KeyId), Is.Null);
            Assert.That(service.State.OutstandingMicros(leaseId), Is.Zero);
            Assert.That(host.Logs.Logs.Any(l => l.EventId.Id == 392 && l.Message.Contains(leaseId, StringComparison.Ordinal) && l.Message.Contains("idle", StringComparison.Ordinal)), Is.True);
        });
    }

    [Test]
    public async Task A_policy_changed_while_the_stream_was_down_gives_the_lease_back_on_the_next_snapshot()
    {
        using var stub = StripeStub.Start();
        await using var service = await StartServiceAsync(new LeasePolicy { Enabled = true, MaxSliceMicroUsd = 100 * Dollar });
        await using var host = await StartHostAsync(service, stub);
        Assert.That(await host.ChargeAsync(500, "leased"), Is.Null);
        var leaseId = service.State.LeaseRequests[0].LeaseId;

        service.State.ChangeLeasePolicyQuietly(KeyId, new LeasePolicy { Enabled = false });
        service.State.EndStreams();

        var ended = await Poll.UntilAsync(
            () => host.Logs.Logs.FirstOrDefault(l => l.EventId.Id == 392 && l.Message.Contains(leaseId, StringComparison.Ordinal))?.Message,
            message => message is not null);
        Assert.That(await service.State.WaitForAsync(s => s.ReturnedLeases.Contains(leaseId)), Is.True);
        Assert.That(ended, Does.Contain("policy changed"), "given back for the policy, not for idleness");
    }

    private static async Task<FakeBudgetService> StartServiceAsync(LeasePolicy? lease, long dailyCapMicros = 10_000 * Dollar)
    {
        var state = new FakeBudgetState().AddKey(KeyId).SetLeasePolicy(KeyId, lease, dailyCapMicros);
        return await FakeBudgetService.StartAsync(state);
    }

    /// <summary>A guard whose key event stream is open: a process with no stream takes no lease.</summary>
    private static async Task<VaultStripeHost> StartHostAsync(FakeBudgetService service, StripeStub stub, int streams = 1)
    {
        var host = VaultStripeHost.Start(service.Address, stub, LocalSecret);
        host.Ledger.Watcher.EnsureStarted();
        Assert.That(await service.State.WaitForSubscriberAsync(streams), Is.True, "the key event stream opened");
        Assert.That(await Poll.UntilAsync(() => host.Ledger.Watcher.SubscriberId, id => id is not null), Is.Not.Null);
        return host;
    }

    private static HashSet<string> SettledIds(FakeBudgetState state) =>
        [.. state.SettleRequests.SelectMany(r => r.Settlements).Select(s => s.ReservationId)];

    private static int IndexOf(FakeBudgetState state, Func<SettleRequest, bool> match)
    {
        var requests = state.SettleRequests;
        for (var i = 0; i < requests.Count; i++)
        {
            if (match(requests[i]))
            {
                return i;
            }
        }

        return -1;
    }

    private static long Granted(FakeBudgetState state, string leaseId) =>
        state.Journal.Where(line => line.StartsWith($"lease:{leaseId}:", StringComparison.Ordinal)).Sum(line => long.Parse(line[(line.LastIndexOf(':') + 1)..], System.Globalization.CultureInfo.InvariantCulture));
}
