using Stripe;

namespace Keybrake.Client.Stripe.Tests;

public sealed class RevocationTests
{
    [Test]
    public async Task A_revoked_key_is_denied_with_a_401_shaped_key_revoked_until_it_is_restored()
    {
        await using var host = StripeGuardHost.Start();
        var charges = new ChargeService(host.Stripe);
        await charges.CreateAsync(new ChargeCreateOptions { Amount = 1000, Currency = "usd", Source = "tok_visa" });

        await host.Admin.RevokeKeyAsync(StripeGuardHost.KeyId);
        var write = Assert.ThrowsAsync<StripeException>(() => charges.CreateAsync(new ChargeCreateOptions { Amount = 1000, Currency = "usd", Source = "tok_visa" }));
        var read = Assert.ThrowsAsync<StripeException>(() => new CustomerService(host.Stripe).GetAsync("cus_1"));
        await host.Admin.RestoreKeyAsync(StripeGuardHost.KeyId);
        var afterRestore = await charges.CreateAsync(new ChargeCreateOptions { Amount = 1500, Currency = "usd", Source = "tok_visa" });

        Assert.Multiple(() =>
        {
            Assert.That(write!.StripeError.Code, Is.EqualTo("keybrake_key_revoked"));
            Assert.That((int)write.HttpStatusCode, Is.EqualTo(401));
            Assert.That(read!.StripeError.Code, Is.EqualTo("keybrake_key_revoked"), "reads are denied too");
            Assert.That(afterRestore.Amount, Is.EqualTo(1500));
            Assert.That(host.Stub.Received, Has.Count.EqualTo(2));
        });
    }

    [Test]
    public async Task Revoking_one_key_leaves_the_others_working()
    {
        await using var host = StripeGuardHost.Start();

        await host.Admin.RevokeKeyAsync(StripeGuardHost.KeyId);
        var other = await new ChargeService(host.OtherStripe()).CreateAsync(new ChargeCreateOptions { Amount = 1000, Currency = "usd", Source = "tok_visa" });

        Assert.That(other.Amount, Is.EqualTo(1000));
    }

    [Test]
    public async Task Revoking_a_key_that_does_not_exist_is_an_error_that_names_it()
    {
        await using var host = StripeGuardHost.Start();

        var error = Assert.ThrowsAsync<ArgumentException>(async () => await host.Admin.RevokeKeyAsync("no-such-key"));

        Assert.That(error!.Message, Does.Contain("no-such-key"));
    }
}
