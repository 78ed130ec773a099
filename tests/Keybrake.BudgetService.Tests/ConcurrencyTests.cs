using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Protocol;
using static Keybrake.BudgetService.Tests.Calls;

namespace Keybrake.BudgetService.Tests;

/// <summary>Runs on both store engines.</summary>
[TestFixture(StoreEngine.Sqlite)]
[TestFixture(StoreEngine.PostgreSql)]
public sealed class ConcurrencyTests(StoreEngine engine)
{
    [Test]
    public async Task Two_hundred_concurrent_calls_against_a_100_dollar_cap_never_reserve_past_it_and_deny_only_what_did_not_fit()
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "100"));
        var random = new Random(20260301);
        var amounts = Enumerable.Range(0, 200).Select(_ => random.Next(1, 501) / 100m).ToArray(); // $0.01 to $5.00, about $500 in all

        var replies = await Task.WhenAll(amounts.Select(amount => service.Budget.AuthorizeAsync(Authorize("agent", amount)).ResponseAsync));

        var allowed = replies.Select((reply, i) => (reply, amount: Dollars(amounts[i]))).Where(x => x.reply.Allowed).ToList();
        var denied = replies.Select((reply, i) => (reply, amount: Dollars(amounts[i]))).Where(x => !x.reply.Allowed).ToList();
        var total = allowed.Sum(x => x.amount);
        var today = await service.TodayAsync("agent");
        var unsettled = await service.UnsettledAsync("agent");
        Assert.Multiple(() =>
        {
            Assert.That(allowed, Is.Not.Empty);
            Assert.That(denied, Is.Not.Empty);
            Assert.That(total, Is.LessThanOrEqualTo(Dollars(100)));
            Assert.That(today.ReservedMicroUsd, Is.EqualTo(total), "the counter holds exactly the allowed estimates");
            Assert.That(unsettled, Has.Count.EqualTo(allowed.Count));
            Assert.That(allowed.Select(x => x.reply.ReservationId).Distinct().Count(), Is.EqualTo(allowed.Count));
            Assert.That(denied.Select(x => x.reply.Reason), Is.All.EqualTo("daily_cap_exceeded"));

            // Spend only grows while nothing settles, so a call was denied only when it did not fit even in what is left now.
            Assert.That(denied.Select(x => x.amount), Is.All.GreaterThan(Dollars(100) - total));
        });
    }

    [Test]
    public async Task Concurrent_settles_sent_twice_each_settle_every_reservation_once()
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "100", runCap: "100"));
        var reservations = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => service.Budget.AuthorizeAsync(Authorize("agent", 2, runId: "run-1")).ResponseAsync));
        var settlements = reservations.Select((r, i) => i % 2 == 0 ? Commit(r.ReservationId, 1.5m) : Release(r.ReservationId)).ToList();

        var changed = await Task.WhenAll(settlements.Concat(settlements).Select(s => service.SettleAsync(s)));

        var today = await service.TodayAsync("agent");
        var run = await service.RunAsync("agent", "run-1");
        var unsettled = await service.UnsettledAsync();
        Assert.Multiple(() =>
        {
            Assert.That(reservations.Select(r => r.Allowed), Is.All.True);
            Assert.That(changed.Sum(), Is.EqualTo(50));
            Assert.That((today.SettledMicroUsd, today.ReservedMicroUsd), Is.EqualTo((Dollars(25 * 1.5m), 0L)));
            Assert.That((run.SettledMicroUsd, run.ReservedMicroUsd), Is.EqualTo((Dollars(25 * 1.5m), 0L)));
            Assert.That(unsettled, Is.Empty);
        });
    }

    [Test]
    public async Task Calls_that_settle_while_others_reserve_keep_the_counters_exact()
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "100"));
        var random = new Random(42);
        var calls = Enumerable.Range(0, 200).Select(_ => (estimate: random.Next(1, 1001) / 100m, share: random.Next(0, 101), release: random.Next(4) == 0)).ToArray();

        // Each call settles as soon as it is allowed: a quarter are refused by the vendor, the rest cost up to their estimate.
        var outcomes = await Task.WhenAll(calls.Select(async call =>
        {
            var reply = await service.Budget.AuthorizeAsync(Authorize("agent", call.estimate));
            if (!reply.Allowed)
            {
                return (allowed: false, cost: 0L, changed: 0);
            }

            var actual = decimal.Round(call.estimate * call.share / 100, 6);
            var changed = await service.SettleAsync(call.release ? Release(reply.ReservationId) : Commit(reply.ReservationId, actual));
            return (allowed: true, cost: call.release ? 0 : Dollars(actual), changed);
        }));

        var today = await service.TodayAsync("agent");
        var unsettled = await service.UnsettledAsync();
        Assert.Multiple(() =>
        {
            Assert.That(outcomes.Where(o => o.allowed).Select(o => o.changed), Is.Not.Empty.And.All.EqualTo(1));
            Assert.That(today.ReservedMicroUsd, Is.Zero);
            Assert.That(today.SettledMicroUsd, Is.EqualTo(outcomes.Sum(o => o.cost)));
            Assert.That(today.SettledMicroUsd, Is.LessThanOrEqualTo(Dollars(100)), "no call cost more than its estimate, so the cap held");
            Assert.That(unsettled, Is.Empty);
        });
    }

    [Test]
    public async Task Concurrent_retries_of_one_call_reserve_it_once()
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "100"));
        var call = Authorize("agent", 7);

        var replies = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => service.Budget.AuthorizeAsync(call).ResponseAsync));

        var today = await service.TodayAsync("agent");
        Assert.Multiple(() =>
        {
            Assert.That(replies.Select(r => r.Allowed), Is.All.True);
            Assert.That(replies.Count(r => r.Reuse == ReservationReuse.None), Is.EqualTo(1));
            Assert.That(replies.Count(r => r.Reuse == ReservationReuse.Pending), Is.EqualTo(49));
            Assert.That(replies.Select(r => r.ReservationId).Distinct().Count(), Is.EqualTo(1));
            Assert.That(today.ReservedMicroUsd, Is.EqualTo(Dollars(7)));
        });
    }

    [Test]
    public async Task Concurrent_calls_in_one_run_never_reserve_past_the_run_cap()
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "1000", runCap: "20"));
        var random = new Random(7411);
        var amounts = Enumerable.Range(0, 100).Select(_ => random.Next(100, 301) / 100m).ToArray(); // $1.00 to $3.00

        var replies = await Task.WhenAll(amounts.Select(amount => service.Budget.AuthorizeAsync(Authorize("agent", amount, runId: "run-1")).ResponseAsync));

        var total = replies.Select((reply, i) => reply.Allowed ? Dollars(amounts[i]) : 0).Sum();
        var run = await service.RunAsync("agent", "run-1");
        Assert.Multiple(() =>
        {
            Assert.That(total, Is.LessThanOrEqualTo(Dollars(20)));
            Assert.That(run.ReservedMicroUsd, Is.EqualTo(total));
            Assert.That(replies.Where(r => !r.Allowed).Select(r => r.Reason), Is.Not.Empty.And.All.EqualTo("run_cap_exceeded"));
            Assert.That(amounts.Where((_, i) => !replies[i].Allowed).Select(Dollars), Is.All.GreaterThan(Dollars(20) - total));
        });
    }
}
