using Keybrake.Client.TestUtilities;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Client.TestUtilities.Stripe;
using Stripe;

namespace Keybrake.Client.Stripe.Tests.Lookups;

/// <summary>In central mode a looked-up charge is shared through the budget service, under its key, like one seen in a response.</summary>
public sealed class CentralLookupTests
{
    private const string KeyId = "refund-agent";

    [Test]
    public async Task A_charge_one_guard_looked_up_is_not_looked_up_again_by_another_guard_with_the_same_key()
    {
        using var stub = StripeStub.Start();
        await using var service = await BudgetServiceHost.StartAsync(BudgetServiceHost.Key(KeyId, "200"));
        var charge = Checkout.PlantIn(stub, Checkout.Charge("ch_checkout_shared", 5000));

        Refund part;
        await using (var first = CentralStripeHost.Start(service.Address, stub.Url, KeyId))
        {
            part = await new RefundService(first.Stripe).CreateAsync(new RefundCreateOptions { Charge = charge, Amount = 1000 });
        }

        // A second guard, its in-process memory empty: it finds the charge, and what is left of it, at the service.
        Refund rest;
        SpendReport spend;
        await using (var second = CentralStripeHost.Start(service.Address, stub.Url, KeyId))
        {
            rest = await new RefundService(second.Stripe).CreateAsync(new RefundCreateOptions { Charge = charge });
            spend = await Poll.UntilAsync(async () => await second.Admin.GetDailySpendAsync(KeyId), s => s.Reserved == Usd.Zero);
        }

        Assert.Multiple(() =>
        {
            Assert.That((part.Amount, rest.Amount), Is.EqualTo((1000L, 4000L)));
            Assert.That(stub.LookupsOf(charge), Is.EqualTo(1), "the second guard did not look it up again");
            Assert.That(spend.Settled, Is.EqualTo(Usd.FromDollars(50)));
            Assert.That(BudgetStoreFile.ReadObject(service.StoragePath, "stripe", charge), Is.EqualTo(((long, long)?)(5000L, 5000L)));
        });
    }

    [Test]
    public async Task The_budget_service_s_policy_can_opt_a_key_in_to_the_per_request_maximum_when_a_lookup_fails()
    {
        using var stub = StripeStub.Start();
        var settings = new Dictionary<string, string?>(BudgetServiceHost.Key(KeyId, "200"))
        {
            [$"BudgetService:Keys:{KeyId}:Policy:PerRequestMax"] = "20",
            [$"BudgetService:Keys:{KeyId}:Policy:UnknownObjects"] = "ReservePerRequestMax",
        };
        await using var service = await BudgetServiceHost.StartAsync(settings);

        // The guard's own policy says nothing about unknown objects: the service's choice stands.
        Refund refund;
        SpendReport spend;
        await using (var host = CentralStripeHost.Start(service.Address, stub.Url, KeyId))
        {
            refund = await new RefundService(host.Stripe).CreateAsync(new RefundCreateOptions { Charge = "ch_nowhere" });
            spend = await Poll.UntilAsync(async () => await host.Admin.GetDailySpendAsync(KeyId), s => s.Reserved == Usd.Zero);
        }

        Assert.Multiple(() =>
        {
            Assert.That(refund.Amount, Is.EqualTo(100), "the stand-in refunds the fixture's $1.00");
            Assert.That(stub.LookupsOf("ch_nowhere"), Is.EqualTo(1));
            Assert.That(spend.Settled, Is.EqualTo(Usd.FromDollars(1)));
        });
    }
}
