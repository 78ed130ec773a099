using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Client.TestUtilities.Stripe;
using WireMock;
using WireMock.Matchers;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using static Keybrake.Client.Stripe.Tests.SharedCapAcrossProcessesTests;

namespace Keybrake.Client.Stripe.Tests;

/// <summary>An agent process killed between its Authorize and its settlement: the reservation outlives it.</summary>
[NonParallelizable]
public sealed class KilledClientTests
{
    [Test]
    public async Task A_reservation_from_a_client_killed_before_it_settled_still_counts_against_the_cap_and_is_listed_as_unsettled()
    {
        using var stub = StripeStub.Start();
        var atStripe = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var answer = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        // The agent's $60 charge reaches Stripe and gets no answer until the test gives one, after the kill.
        stub.Server.Given(Request.Create().WithPath("/v1/charges").UsingPost().WithBody(new WildcardMatcher("*amount=6000*")))
            .AtPriority(1)
            .RespondWith(Response.Create().WithCallback(async _ =>
            {
                atStripe.TrySetResult();
                await answer.Task;
                return (IResponseMessage)new ResponseMessage { StatusCode = 500 };
            }));
        await using var service = await BudgetServiceHost.StartAsync(BudgetServiceHost.Key(KeyId, "100"));
        await using var agent = await AgentProcess.StartAsync(
            service.Address, stub.Url, KeyId, service.Directory, "killed-agent", seed: 0,
            "--tasks", "1", "--charges", "1", "--min-cents", "6000", "--max-cents", "6000");
        try
        {
            await agent.GoAsync();
            await atStripe.Task.WaitAsync(TimeSpan.FromSeconds(60));
            await agent.KillAsync();

            await using var host = CentralStripeHost.Start(service.Address, stub.Url, KeyId);
            var spend = await host.Admin.GetDailySpendAsync(KeyId);
            var unsettled = await host.Admin.ListUnsettledAsync(KeyId);
            var overTheCap = await host.ChargeAsync(5_000);
            var upToTheCap = await host.ChargeAsync(4_000);

            Assert.Multiple(() =>
            {
                Assert.That(spend.Reserved, Is.EqualTo(Usd.FromDollars(60)), "the dead client's reservation counts as spent");
                Assert.That(spend.Settled, Is.EqualTo(Usd.Zero));
                Assert.That(unsettled, Has.Count.EqualTo(1));
                Assert.That(unsettled[0].KeyId, Is.EqualTo(KeyId));
                Assert.That(unsettled[0].RunId, Is.EqualTo("killed-agent"));
                Assert.That(unsettled[0].IdempotencyKey, Is.EqualTo("killed-agent-t0-c0"));
                Assert.That(unsettled[0].Estimate, Is.EqualTo(Usd.FromDollars(60)));
                Assert.That(overTheCap, Is.EqualTo(ReasonCodes.DailyCapExceeded), "$60 held + $50 is over the $100 cap");
                Assert.That(upToTheCap, Is.Null, "$60 held + $40 is exactly the cap");
            });
        }
        finally
        {
            answer.TrySetResult();
        }
    }
}
