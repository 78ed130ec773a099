using Stripe;

namespace Keybrake.Client.Stripe.Tests;

public sealed class ScopeTests
{
    [Test]
    public async Task A_charge_for_a_customer_outside_the_allowlist_is_denied()
    {
        await using var host = StripeGuardHost.Start(policy => policy.AllowStripeCustomers("cus_allowed"));
        var charges = new ChargeService(host.Stripe);

        await charges.CreateAsync(new ChargeCreateOptions { Amount = 1000, Currency = "usd", Customer = "cus_allowed" });
        var other = Assert.ThrowsAsync<StripeException>(() => charges.CreateAsync(new ChargeCreateOptions { Amount = 1000, Currency = "usd", Customer = "cus_someone_else" }));
        var nobody = Assert.ThrowsAsync<StripeException>(() => charges.CreateAsync(new ChargeCreateOptions { Amount = 1000, Currency = "usd", Source = "tok_visa" }));

        Assert.Multiple(() =>
        {
            Assert.That(other!.StripeError.Code, Is.EqualTo("keybrake_customer_not_allowed"));
            Assert.That((int)other.HttpStatusCode, Is.EqualTo(403));
            Assert.That(nobody!.StripeError.Code, Is.EqualTo("keybrake_customer_not_allowed"), "money moving for no named customer cannot be checked");
            Assert.That(host.Stub.Received.Count(r => r.Path == "/v1/charges"), Is.EqualTo(1));
        });
    }

    [Test]
    public async Task A_refund_is_checked_against_the_customer_recorded_when_its_charge_went_through_Keybrake_with_the_same_key()
    {
        await using var host = StripeGuardHost.Start(policy => policy.AllowStripeCustomers("cus_allowed"));
        // The restricted key charges an allowed customer; the unrestricted key charges one allowed and one not.
        var ownCharge = await new ChargeService(host.Stripe).CreateAsync(new ChargeCreateOptions { Amount = 2000, Currency = "usd", Customer = "cus_allowed" });
        var otherKeysAllowed = await new ChargeService(host.OtherStripe()).CreateAsync(new ChargeCreateOptions { Amount = 2000, Currency = "usd", Customer = "cus_allowed" });
        var foreignCharge = await new ChargeService(host.OtherStripe()).CreateAsync(new ChargeCreateOptions { Amount = 2000, Currency = "usd", Customer = "cus_someone_else" });
        var refunds = new RefundService(host.Stripe);

        var allowed = await refunds.CreateAsync(new RefundCreateOptions { Charge = ownCharge.Id, Amount = 500 });
        var foreign = Assert.ThrowsAsync<StripeException>(() => refunds.CreateAsync(new RefundCreateOptions { Charge = foreignCharge.Id, Amount = 500 }));
        var otherKey = await refunds.CreateAsync(new RefundCreateOptions { Charge = otherKeysAllowed.Id, Amount = 500 });
        var unknown = Assert.ThrowsAsync<StripeException>(() => refunds.CreateAsync(new RefundCreateOptions { Charge = "ch_made_outside_keybrake", Amount = 500 }));

        Assert.Multiple(() =>
        {
            Assert.That(allowed.Amount, Is.EqualTo(500));
            Assert.That(host.Stub.LookupsOf(ownCharge.Id), Is.Zero, "a charge the key made needs no lookup");
            Assert.That(foreign!.StripeError.Code, Is.EqualTo("keybrake_customer_not_allowed"));
            Assert.That(foreign.StripeError.Message, Does.Contain(foreignCharge.Id));

            // Objects one key remembered are invisible to every other key: the other key's charge is looked up at
            // Stripe, whose answer (an allowed customer) is what vouches for it.
            Assert.That(otherKey.Amount, Is.EqualTo(500));
            Assert.That((host.Stub.LookupsOf(foreignCharge.Id), host.Stub.LookupsOf(otherKeysAllowed.Id)), Is.EqualTo((1, 1)));
            Assert.That(unknown!.StripeError.Code, Is.EqualTo("keybrake_object_lookup_failed"));
            Assert.That(unknown.StripeError.Message, Does.Contain("Stripe has no charge 'ch_made_outside_keybrake'").And.Contain("customers allowlist cannot be checked"));
            Assert.That(host.Stub.Received.Count(r => r.Path == "/v1/refunds"), Is.EqualTo(2));
        });
    }

    [Test]
    public async Task A_customer_in_the_path_is_checked_for_reads_too()
    {
        await using var host = StripeGuardHost.Start(policy => policy.AllowStripeCustomers("cus_allowed"));
        var customers = new CustomerService(host.Stripe);

        await customers.GetAsync("cus_allowed");
        var denied = Assert.ThrowsAsync<StripeException>(() => customers.GetAsync("cus_someone_else"));

        Assert.That(denied!.StripeError.Code, Is.EqualTo("keybrake_customer_not_allowed"));
    }

    [Test]
    public async Task A_call_for_a_connected_account_outside_the_allowlist_is_denied()
    {
        await using var host = StripeGuardHost.Start(policy => policy.AllowStripeAccounts("acct_allowed"));
        var charges = new ChargeService(host.Stripe);
        var options = new ChargeCreateOptions { Amount = 1000, Currency = "usd", Source = "tok_visa" };

        await charges.CreateAsync(options, new RequestOptions { StripeAccount = "acct_allowed" });
        await charges.CreateAsync(options);
        var header = Assert.ThrowsAsync<StripeException>(() => charges.CreateAsync(options, new RequestOptions { StripeAccount = "acct_elsewhere" }));
        var transfer = Assert.ThrowsAsync<StripeException>(() =>
            new TransferService(host.Stripe).CreateAsync(new TransferCreateOptions { Amount = 100, Currency = "usd", Destination = "acct_elsewhere" }));
        var onBehalfOf = Assert.ThrowsAsync<StripeException>(() =>
            charges.CreateAsync(new ChargeCreateOptions { Amount = 1000, Currency = "usd", Source = "tok_visa", OnBehalfOf = "acct_elsewhere" }));

        Assert.Multiple(() =>
        {
            Assert.That(header!.StripeError.Code, Is.EqualTo("keybrake_account_not_allowed"));
            Assert.That(header.StripeError.Message, Does.Contain("Stripe-Account"));
            Assert.That(transfer!.StripeError.Code, Is.EqualTo("keybrake_account_not_allowed"));
            Assert.That(onBehalfOf!.StripeError.Code, Is.EqualTo("keybrake_account_not_allowed"));
            Assert.That(host.Stub.Received, Has.Count.EqualTo(2), "the platform's own charge and the allowed account's charge");
        });
    }

    [Test]
    public async Task Payouts_are_denied_by_an_endpoint_rule_and_never_reach_Stripe()
    {
        await using var host = StripeGuardHost.Start(policy =>
        {
            policy.Endpoints.Allow.Add("POST /v1/charges");
            policy.Endpoints.Allow.Add("POST /v1/refunds");
            policy.Endpoints.Allow.Add("GET /v1/**");
            policy.Endpoints.Deny.Add("* /v1/payouts/**");
        });

        await new ChargeService(host.Stripe).CreateAsync(new ChargeCreateOptions { Amount = 1000, Currency = "usd", Source = "tok_visa" });
        var payout = Assert.ThrowsAsync<StripeException>(() => new PayoutService(host.Stripe).CreateAsync(new PayoutCreateOptions { Amount = 1000, Currency = "usd" }));
        var notAllowed = Assert.ThrowsAsync<StripeException>(() => new CustomerService(host.Stripe).CreateAsync(new CustomerCreateOptions { Email = "a@example.com" }));

        Assert.Multiple(() =>
        {
            Assert.That(payout!.StripeError.Code, Is.EqualTo("keybrake_endpoint_not_allowed"));
            Assert.That((int)payout.HttpStatusCode, Is.EqualTo(403));
            Assert.That(payout.StripeError.Message, Does.Contain("* /v1/payouts/**"));
            Assert.That(notAllowed!.StripeError.Code, Is.EqualTo("keybrake_endpoint_not_allowed"), "with an allow list, anything not allowed is denied");
            Assert.That(host.Stub.Received.Select(r => r.Path), Is.EqualTo(new[] { "/v1/charges" }));
        });
    }
}
