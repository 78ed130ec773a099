using Keybrake.Client.TestUtilities.Stripe;
using Stripe;

namespace Keybrake.Client.Stripe.Tests;

public sealed class ConcurrencyTests
{
    private const int Tasks = 64;
    private const int Rounds = 20;

    [Test]
    public async Task Sixty_four_concurrent_agents_never_push_settled_spend_past_the_cap([Range(0, Rounds - 1)] int round)
    {
        using var stub = StripeStub.Start();
        await using var host = StripeGuardHost.Start(policy => policy.LoopBreaker.MaxRepeats = 0, stub: stub);
        var random = new Random(round);
        var amounts = Enumerable.Range(0, Tasks).Select(_ => random.Next(100, 1_000)).ToArray(); // $1.00 to $9.99
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var agents = amounts.Select(amount => Task.Run(async () =>
        {
            await gate.Task;
            try
            {
                await new ChargeService(host.Stripe).CreateAsync(new ChargeCreateOptions { Amount = amount, Currency = "usd", Source = "tok_visa" });
                return "allowed";
            }
            catch (StripeException denied)
            {
                return denied.StripeError.Code;
            }
        })).ToArray();
        gate.SetResult();
        var outcomes = await Task.WhenAll(agents);

        var spend = await host.Admin.GetDailySpendAsync(StripeGuardHost.KeyId);
        var seenByStripe = stub.SumOfAmounts("/v1/charges");
        Assert.Multiple(() =>
        {
            Assert.That(spend.Settled, Is.LessThanOrEqualTo(Usd.FromDollars(100)));
            Assert.That(spend.Settled, Is.EqualTo(Usd.FromCents(seenByStripe)), "what settled is exactly what reached Stripe");
            Assert.That(spend.Reserved, Is.EqualTo(Usd.Zero));
            Assert.That(outcomes.Count(o => o == "allowed"), Is.EqualTo(stub.Received.Count));
            Assert.That(outcomes.Where(o => o != "allowed"), Is.All.EqualTo("keybrake_daily_cap_exceeded"));
            Assert.That(outcomes, Does.Contain("keybrake_daily_cap_exceeded"), "64 charges of $1 to $10 must hit a $100 cap");
        });
    }
}
