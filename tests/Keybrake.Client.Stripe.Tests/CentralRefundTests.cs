using Grpc.Core;
using Grpc.Net.Client;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Client.TestUtilities.Stripe;
using Keybrake.Protocol;
using Stripe;

namespace Keybrake.Client.Stripe.Tests;

/// <summary>
/// In central mode the charge a guarded call made is sent to the budget service with the next settlement batch,
/// off the request path: a refund that follows at once must still find it.
/// </summary>
public sealed class CentralRefundTests
{
    private const string KeyId = "refund-agent";

    [Test]
    public async Task A_refund_right_after_its_charge_finds_the_charge_and_the_service_has_it_once_the_guard_is_disposed()
    {
        using var stub = StripeStub.Start();
        await using var service = await BudgetServiceHost.StartAsync(BudgetServiceHost.Key(KeyId, "200"));
        Charge charge;
        Refund part, rest;
        SpendReport spend;
        await using (var host = CentralStripeHost.Start(service.Address, stub.Url, KeyId))
        {
            charge = await new ChargeService(host.Stripe).CreateAsync(new ChargeCreateOptions { Amount = 8000, Currency = "usd", Source = "tok_visa" });
            var refunds = new RefundService(host.Stripe);
            part = await refunds.CreateAsync(new RefundCreateOptions { Charge = charge.Id, Amount = 3000 });

            // Without an amount the guard must know the charge (the key has no per-request maximum to fall back
            // on) and what is left of it after the refund just made.
            rest = await refunds.CreateAsync(new RefundCreateOptions { Charge = charge.Id });
            spend = await TestUtilities.Poll.UntilAsync(async () => await host.Admin.GetDailySpendAsync(KeyId), s => s.Reserved == Usd.Zero);
        }

        var atService = BudgetStoreFile.ReadObject(service.StoragePath, "stripe", charge.Id);
        Assert.Multiple(() =>
        {
            Assert.That((part.Amount, rest.Amount), Is.EqualTo((3000L, 5000L)));
            Assert.That(spend.Settled, Is.EqualTo(Usd.FromDollars(160)), "$80 charged, $30 refunded, then the $50 left");
            Assert.That(atService, Is.EqualTo(((long, long)?)(8000L, 8000L)), "the charge, with everything refunded, reached the service");
        });
    }

    [Test]
    public async Task A_charge_planted_by_another_credential_does_not_let_a_refund_through_a_key_limited_to_its_customer()
    {
        using var stub = StripeStub.Start();
        var settings = new Dictionary<string, string?>(BudgetServiceHost.Key(KeyId, "10000"))
        {
            [$"BudgetService:Keys:{KeyId}:Policy:Scope:customers:0"] = "cus_allowed",
        };
        foreach (var (name, value) in BudgetServiceHost.Key("attacker-key", "100"))
        {
            settings[name] = value;
        }

        await using var service = await BudgetServiceHost.StartAsync(settings);
        using var channel = GrpcChannel.ForAddress(service.Address);
        var issued = await BudgetServiceHost.AdminClient(channel).CreateClientAsync(new CreateClientRequest { ClientId = "attacker", KeyIds = { "attacker-key" } });
        var attacker = BudgetServiceHost.BudgetClient(channel, issued.Token);
        var forged = new Protocol.VendorObject { Id = "ch_forged1", Kind = "charge", Customer = "cus_allowed", Currency = "usd", Amount = 500_000 };

        // Under the refund key it is refused; under the attacker's own key it is stored, where only that key sees it.
        var underVictim = Assert.ThrowsAsync<RpcException>(async () => await attacker.RememberObjectsAsync(new RememberObjectsRequest { KeyId = KeyId, Vendor = "stripe", Objects = { forged } }));
        await attacker.RememberObjectsAsync(new RememberObjectsRequest { KeyId = "attacker-key", Vendor = "stripe", Objects = { forged } });

        // At Stripe the charge is someone else's: the guard looks it up, and believes Stripe, not the planted copy.
        var atStripe = StripeFixtures.Resource("charge");
        atStripe["id"] = "ch_forged1";
        atStripe["customer"] = "cus_someone_else";
        atStripe["amount"] = 500_000;
        stub.Plant(atStripe);

        StripeException? refused;
        await using (var host = CentralStripeHost.Start(service.Address, stub.Url, KeyId))
        {
            refused = Assert.ThrowsAsync<StripeException>(() => new RefundService(host.Stripe).CreateAsync(new RefundCreateOptions { Charge = "ch_forged1" }));
        }

        Assert.Multiple(() =>
        {
            Assert.That(underVictim!.StatusCode, Is.EqualTo(StatusCode.PermissionDenied));
            Assert.That(refused!.StripeError.Code, Is.EqualTo("keybrake_customer_not_allowed"), refused.Message);
            Assert.That(refused.StripeError.Message, Does.Contain("cus_someone_else"));
            Assert.That(stub.Received.Where(r => r.Path.StartsWith("/v1/refunds", StringComparison.Ordinal)), Is.Empty, "the refund never reached Stripe");
            Assert.That(stub.SumOfRefundedCents(), Is.Zero);
        });
    }
}
