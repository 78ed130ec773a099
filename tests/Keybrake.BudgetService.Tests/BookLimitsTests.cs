using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Grpc.Core;
using Keybrake.BudgetService.Store;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Protocol;
using static Keybrake.BudgetService.Tests.Calls;

namespace Keybrake.BudgetService.Tests;

/// <summary>The books cannot overflow: amounts are bound, sums are checked, and a commit far above its estimate waits for an operator.</summary>
public sealed class BookLimitsTests
{
    private const long Quintillion = 1_000_000_000_000_000_000; // 10^18 micro-USD, the amount of the reported attack

    [Test]
    public async Task Twelve_commits_of_ten_to_the_eighteenth_against_reservations_of_zero_leave_the_books_exact()
    {
        await using var service = await TestService.StartAsync(BudgetServiceHost.Key("agent", "100", runCap: "100"));
        var reservations = new List<string>();
        for (var i = 0; i < 12; i++)
        {
            reservations.Add((await service.Budget.AuthorizeAsync(Authorize("agent", 0, runId: "run-1"))).ReservationId);
        }

        // The attack as reported: each commit of 10^18 is refused outright (above any single amount the books take).
        var refused = reservations.Select(id =>
            Assert.ThrowsAsync<RpcException>(async () => await service.SettleAsync(new Settlement { ReservationId = id, Kind = SettlementKind.Commit, ActualMicroUsd = Quintillion }))).ToList();

        // The largest commit the bound lets through is held for an operator: the estimate was $0.
        var held = await service.SettleAsync(reservations.Select(id => new Settlement { ReservationId = id, Kind = SettlementKind.Commit, ActualMicroUsd = BookLimits.MaxAmountMicroUsd }).ToArray());
        var again = await service.SettleAsync(new Settlement { ReservationId = reservations[0], Kind = SettlementKind.Commit, ActualMicroUsd = 0 });

        var today = await service.TodayAsync("agent");
        var run = await service.RunAsync("agent", "run-1");
        var unsettled = await service.UnsettledAsync("agent");
        using var http = Rest(service);
        using var spend = await http.GetAsync("/v1/spend?groupBy=key");
        var spendBody = await spend.Content.ReadAsStringAsync();
        var types = await StoreFile.ScalarAsync(service.Host.StoragePath,
            "SELECT group_concat(t) FROM (SELECT DISTINCT typeof(settled) AS t FROM day_counter UNION SELECT DISTINCT typeof(reserved) FROM day_counter UNION SELECT DISTINCT typeof(settled) FROM run_counter)");

        Assert.Multiple(() =>
        {
            Assert.That(refused.Select(e => e!.StatusCode), Is.All.EqualTo(StatusCode.InvalidArgument));
            Assert.That(refused[0]!.Status.Detail, Does.Contain("between 0 and 1000000000000000 micro-USD"));
            Assert.That(held, Is.EqualTo(12), "each commit was taken in, to be held");
            Assert.That(again, Is.EqualTo(0), "a held reservation is the operator's: the client cannot settle it again");
            Assert.That((today.SettledMicroUsd, today.ReservedMicroUsd), Is.EqualTo((0L, 0L)));
            Assert.That((run.SettledMicroUsd, run.ReservedMicroUsd), Is.EqualTo((0L, 0L)));
            Assert.That(unsettled.Select(r => (r.ReservationId, r.Held, r.HeldActualMicroUsd)),
                Is.EquivalentTo(reservations.Select(id => (id, true, BookLimits.MaxAmountMicroUsd))));
            Assert.That(spend.StatusCode, Is.EqualTo(HttpStatusCode.OK), spendBody);
            Assert.That(JsonDocument.Parse(spendBody).RootElement.GetProperty("totalSettledMicroUsd").ToString(), Is.EqualTo("0"));
            Assert.That(types, Is.EqualTo("integer"), "every counter stays an INTEGER column value");
        });
    }

    [Test]
    public async Task A_commit_up_to_ten_times_its_estimate_plus_a_dollar_settles_and_one_micro_more_is_held()
    {
        await using var service = await TestService.StartAsync(BudgetServiceHost.Key("agent", "1000"));
        var within = await service.Budget.AuthorizeAsync(Authorize("agent", 10));
        var above = await service.Budget.AuthorizeAsync(Authorize("agent", 10));
        var fromZero = await service.Budget.AuthorizeAsync(Authorize("agent", 0));

        var changed = await service.SettleAsync(
            Commit(within.ReservationId, 101),                                                                             // 10 x $10 + $1: trusted
            new Settlement { ReservationId = above.ReservationId, Kind = SettlementKind.Commit, ActualMicroUsd = Dollars(101) + 1 }, // one micro-USD more: held
            Commit(fromZero.ReservationId, 1));                                                                            // a $0 estimate may still cost up to $1

        var today = await service.TodayAsync("agent");
        var unsettled = await service.UnsettledAsync("agent");
        Assert.Multiple(() =>
        {
            Assert.That(changed, Is.EqualTo(3));
            Assert.That(today.SettledMicroUsd, Is.EqualTo(Dollars(102)));
            Assert.That(today.ReservedMicroUsd, Is.EqualTo(Dollars(10)), "the held reservation still counts its estimate");
            Assert.That(unsettled.Select(r => (r.ReservationId, r.Held, r.HeldActualMicroUsd)), Is.EqualTo(new[] { (above.ReservationId, true, Dollars(101) + 1) }));
        });
    }

    [Test]
    public async Task A_commit_above_the_keys_daily_cap_is_held_and_an_operator_settles_it()
    {
        await using var service = await TestService.StartAsync(BudgetServiceHost.Key("agent", "100"));
        var reserved = await service.Budget.AuthorizeAsync(Authorize("agent", 90));

        var changed = await service.SettleAsync(Commit(reserved.ReservationId, 120)); // within 10x the estimate, above the cap
        var whileHeld = await service.TodayAsync("agent");
        var listed = await service.UnsettledAsync("agent");
        await service.Admin.ResolveReservationAsync(new ResolveReservationRequest { ReservationId = reserved.ReservationId, ActualMicroUsd = Dollars(120) });
        var afterResolve = await service.TodayAsync("agent");

        Assert.Multiple(() =>
        {
            Assert.That(changed, Is.EqualTo(1));
            Assert.That((whileHeld.SettledMicroUsd, whileHeld.ReservedMicroUsd), Is.EqualTo((0L, Dollars(90))));
            Assert.That(listed.Single().HeldActualMicroUsd, Is.EqualTo(Dollars(120)));
            Assert.That((afterResolve.SettledMicroUsd, afterResolve.ReservedMicroUsd), Is.EqualTo((Dollars(120), 0L)), "the operator's word is counted in full");
        });
    }

    [Test]
    public async Task Amounts_and_caps_above_a_billion_dollars_are_refused()
    {
        await using var service = await TestService.StartAsync(BudgetServiceHost.Key("agent", "100"));
        var reserved = await service.Budget.AuthorizeAsync(Authorize("agent", 1));

        var estimate = Assert.ThrowsAsync<RpcException>(async () => await service.Budget.AuthorizeAsync(
            new AuthorizeRequest { KeyId = "agent", IdempotencyKey = NewIdempotencyKey(), EstimateMicroUsd = BookLimits.MaxAmountMicroUsd + 1, RequestHash = Hash(1) }));
        var negative = Assert.ThrowsAsync<RpcException>(async () => await service.SettleAsync(
            new Settlement { ReservationId = reserved.ReservationId, Kind = SettlementKind.Commit, ActualMicroUsd = -1 }));
        var resolve = Assert.ThrowsAsync<RpcException>(async () => await service.Admin.ResolveReservationAsync(
            new ResolveReservationRequest { ReservationId = reserved.ReservationId, ActualMicroUsd = BookLimits.MaxAmountMicroUsd + 1 }));
        var cap = Assert.ThrowsAsync<RpcException>(async () => await service.Admin.CreateKeyAsync(
            new CreateKeyRequest { KeyId = "huge", Vendor = "stripe", Policy = new Policy { DailyCapMicroUsd = BookLimits.MaxAmountMicroUsd + 1 } }));
        var runCap = Assert.ThrowsAsync<RpcException>(async () => await service.Admin.UpdateKeyPolicyAsync(
            new UpdateKeyPolicyRequest { KeyId = "agent", Policy = new Policy { DailyCapMicroUsd = 1, RunCapMicroUsd = BookLimits.MaxAmountMicroUsd + 1 } }));
        var unsettled = await service.UnsettledAsync("agent");

        Assert.Multiple(() =>
        {
            Assert.That(new[] { estimate, negative, resolve, cap, runCap }.Select(e => e!.StatusCode), Is.All.EqualTo(StatusCode.InvalidArgument));
            Assert.That(cap!.Status.Detail, Does.Contain("policy.daily_cap_micro_usd must be at most $1000000000.00"));
            Assert.That(runCap!.Status.Detail, Does.Contain("policy.run_cap_micro_usd must be at most"));
            Assert.That(unsettled.Single().ReservationId, Is.EqualTo(reserved.ReservationId), "nothing settled");
        });
    }

    [Test]
    public async Task A_configured_cap_above_a_billion_dollars_stops_the_service_at_start()
    {
        var failure = Assert.CatchAsync(async () => await TestService.StartAsync(BudgetServiceHost.Key("agent", "1000000001")));

        Assert.That(failure!.Message, Does.Contain("BudgetService:Keys:agent:Policy:DailyCap must be at most"));
    }

    [Test]
    public async Task No_counter_passes_its_bound_and_the_operator_hears_why()
    {
        await using var service = await TestService.StartAsync(BudgetServiceHost.Key("agent", "0"));
        var perCounter = (int)(BookLimits.MaxCounterMicroUsd / BookLimits.MaxAmountMicroUsd);
        var ids = new List<string>();
        for (var i = 0; i < perCounter + 2; i++)
        {
            ids.Add((await service.Budget.AuthorizeAsync(Authorize("agent", 0))).ReservationId);
        }

        // The operator's word is trusted up to the counter's bound...
        for (var i = 0; i < perCounter; i++)
        {
            await service.Admin.ResolveReservationAsync(new ResolveReservationRequest { ReservationId = ids[i], ActualMicroUsd = BookLimits.MaxAmountMicroUsd });
        }

        // ...and not past it; a client's commit past it is held.
        var past = Assert.ThrowsAsync<RpcException>(async () => await service.Admin.ResolveReservationAsync(
            new ResolveReservationRequest { ReservationId = ids[perCounter], ActualMicroUsd = 1 }));
        var clientCommit = await service.SettleAsync(new Settlement { ReservationId = ids[perCounter + 1], Kind = SettlementKind.Commit, ActualMicroUsd = 0 });
        var today = await service.TodayAsync("agent");
        using var http = Rest(service);
        using var spend = await http.GetAsync("/v1/spend?groupBy=key,day");

        Assert.Multiple(async () =>
        {
            Assert.That(past!.StatusCode, Is.EqualTo(StatusCode.FailedPrecondition));
            Assert.That(past.Status.Detail, Does.Contain("past 1000000000000000000 micro-USD"));
            Assert.That(clientCommit, Is.EqualTo(1), "a commit of $0 fits and settles");
            Assert.That(today.SettledMicroUsd, Is.EqualTo(BookLimits.MaxCounterMicroUsd));
            Assert.That(spend.StatusCode, Is.EqualTo(HttpStatusCode.OK), await spend.Content.ReadAsStringAsync());
        });
    }

    [Test]
    public void Spend_totals_beyond_64_bits_are_a_clear_refusal_not_a_crash()
    {
        var counters = Enumerable.Range(0, 12)
            .Select(i => new SpendCounter($"key-{i}", "2026-03-10", null, BookLimits.MaxCounterMicroUsd, 0))
            .ToList();

        var failure = Assert.Throws<RpcException>(() => Budget.SpendGrouping.Parse([], runFiltered: false).Aggregate(counters, new Dictionary<string, string>()));

        Assert.Multiple(() =>
        {
            Assert.That(failure!.StatusCode, Is.EqualTo(StatusCode.OutOfRange));
            Assert.That(failure.Status.Detail, Does.Contain("narrow the query"));
        });
    }

    private static HttpClient Rest(TestService service)
    {
        var http = new HttpClient { BaseAddress = service.Host.RestAddress };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", BudgetServiceHost.AdminToken);
        return http;
    }
}
