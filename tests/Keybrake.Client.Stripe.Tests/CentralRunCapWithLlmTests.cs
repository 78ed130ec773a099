using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Client.TestUtilities.Postgres;
using Keybrake.Client.TestUtilities.Stripe;
using Stripe;

namespace Keybrake.Client.Stripe.Tests;

/// <summary>
/// One run budget across LLM tokens and Stripe dollars: the budget service's run cap includes the run's LLM spend
/// (<c>RunCapIncludes: [ "llm" ]</c>), and the real Stripe.net client's refunds, guarded in central mode, are held to it.
/// The LLM spend is written straight into the service's store (<see cref="LlmSpendSeed"/>), as its LiteLLM intake
/// writes it on receiving spend logs.
/// </summary>
public sealed class CentralRunCapWithLlmTests
{
    private const string KeyId = "refund-agent";

    [TestCase(false)]
    [TestCase(true)]
    public async Task With_40_dollars_of_tokens_in_the_run_a_50_dollar_combined_cap_denies_a_15_dollar_refund_and_allows_one_of_9(bool onPostgres)
    {
        using var stub = StripeStub.Start();
        var settings = BudgetServiceHost.Key(KeyId, "1000", runCap: "50");
        settings[$"BudgetService:Keys:{KeyId}:Policy:RunCapIncludes:0"] = "llm";
        var postgres = onPostgres ? await (await PostgresCluster.SharedAsync()).CreateDatabaseAsync() : null;
        await using var service = await BudgetServiceHost.StartAsync(settings, postgres: postgres);
        await LlmSpendSeed.IntoAsync(service.StoragePath, postgres,
            new LlmSpendRow("chatcmpl-1", "r1", 30_000_000, "gpt-4o", "openai", DateTimeOffset.UnixEpoch),
            new LlmSpendRow("chatcmpl-2", "r1", 10_000_000, "claude-sonnet-4", "anthropic", DateTimeOffset.UnixEpoch));

        StripeException? denied;
        Refund allowed;
        SpendReport run;
        await using (var host = CentralStripeHost.Start(service.Address, stub.Url, KeyId))
        {
            // The charge is outside the run: only the refunds count against the run's cap.
            var charge = await new ChargeService(host.Stripe).CreateAsync(new ChargeCreateOptions { Amount = 10_000, Currency = "usd", Source = "tok_visa" });
            var refunds = new RefundService(host.Stripe);
            using (KeybrakeRun.Begin("r1"))
            {
                denied = Assert.ThrowsAsync<StripeException>(() => refunds.CreateAsync(new RefundCreateOptions { Charge = charge.Id, Amount = 1500 }));
                allowed = await refunds.CreateAsync(new RefundCreateOptions { Charge = charge.Id, Amount = 900 });
            }

            run = await TestUtilities.Poll.UntilAsync(async () => await host.Admin.GetRunSpendAsync(KeyId, "r1"), s => s.Reserved == Usd.Zero);
        }

        Assert.Multiple(() =>
        {
            Assert.That(denied!.StripeError.Code, Is.EqualTo("keybrake_run_cap_exceeded"));
            Assert.That((int)denied.HttpStatusCode, Is.EqualTo(402));
            Assert.That(denied.StripeError.Message, Does.Contain("$40.00 of LLM tokens and $0.00 of this key's calls").And.Contain("needs $15.00"));
            Assert.That(allowed.Amount, Is.EqualTo(900L));
            Assert.That(stub.SumOfRefundedCents(), Is.EqualTo(900L), "only the $9 refund reached Stripe");
            Assert.That(run.Settled, Is.EqualTo(Usd.FromDollars(9)));
        });
    }
}
