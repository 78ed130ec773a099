namespace Keybrake.Client.Tests;

public sealed class LedgerConcurrencyTests
{
    [Test]
    public async Task Two_hundred_concurrent_reservations_of_a_quarter_fill_a_ten_dollar_cap_exactly()
    {
        using var harness = new LedgerHarness(policy => policy.DailyCap = Usd.FromDollars(10));

        var results = await AuthorizeConcurrentlyAsync(harness, Enumerable.Repeat(Usd.FromCents(25), 200).ToArray());

        var allowed = results.Where(r => r.Result.Denial is null).ToList();
        var spend = await harness.TodayAsync();
        Assert.Multiple(() =>
        {
            Assert.That(allowed, Has.Count.EqualTo(40));
            Assert.That(allowed.Select(a => a.Result.ReservationId).Distinct().Count(), Is.EqualTo(40));
            Assert.That(spend.Reserved, Is.EqualTo(Usd.FromDollars(10)));
            Assert.That(results.Where(r => r.Result.Denial is not null).Select(r => r.Result.Denial!.Value.Reason), Is.All.EqualTo(ReasonCodes.DailyCapExceeded));
        });
    }

    [Test]
    public async Task Concurrent_reservations_of_random_amounts_never_reserve_past_the_cap([Range(0, 9)] int seed)
    {
        using var harness = new LedgerHarness(policy => policy.DailyCap = Usd.FromDollars(100));
        var random = new Random(seed);
        var estimates = Enumerable.Range(0, 128).Select(_ => Usd.FromCents(random.Next(100, 1_000))).ToArray();

        var results = await AuthorizeConcurrentlyAsync(harness, estimates);

        var allowedSum = results.Where(r => r.Result.Denial is null).Aggregate(Usd.Zero, (sum, r) => sum + r.Estimate);
        var spend = await harness.TodayAsync();
        Assert.Multiple(() =>
        {
            Assert.That(allowedSum, Is.LessThanOrEqualTo(Usd.FromDollars(100)));
            Assert.That(spend.Reserved, Is.EqualTo(allowedSum), "what was reserved is exactly what was allowed");
            Assert.That(results.Any(r => r.Result.Denial is not null), Is.True, "128 calls of $1 to $10 must hit a $100 cap");
        });
    }

    [Test]
    public async Task Concurrent_reservations_and_commits_settle_exactly_what_was_allowed()
    {
        using var harness = new LedgerHarness(policy => policy.DailyCap = Usd.FromDollars(50));
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var agents = Enumerable.Range(0, 100).Select(_ => Task.Run(async () =>
        {
            await gate.Task;
            var result = await harness.AuthorizeAsync(Usd.FromDollars(1));
            if (result.ReservationId is { } id)
            {
                await harness.CommitAsync(id, Usd.FromDollars(1));
                return true;
            }

            return false;
        })).ToArray();
        gate.SetResult();

        var outcomes = await Task.WhenAll(agents);

        var spend = await harness.TodayAsync();
        Assert.Multiple(() =>
        {
            Assert.That(outcomes.Count(o => o), Is.EqualTo(50));
            Assert.That(spend.Settled, Is.EqualTo(Usd.FromDollars(50)));
            Assert.That(spend.Reserved, Is.EqualTo(Usd.Zero));
        });
    }

    private static async Task<(Usd Estimate, AuthorizationResult Result)[]> AuthorizeConcurrentlyAsync(LedgerHarness harness, Usd[] estimates)
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var tasks = estimates.Select(estimate => Task.Run(async () =>
        {
            await gate.Task;
            return (estimate, await harness.AuthorizeAsync(estimate));
        })).ToArray();
        gate.SetResult();
        return await Task.WhenAll(tasks);
    }
}
