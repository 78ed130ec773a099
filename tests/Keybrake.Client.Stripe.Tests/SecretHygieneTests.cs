using System.Text.Json;
using Stripe;

namespace Keybrake.Client.Stripe.Tests;

public sealed class SecretHygieneTests
{
    [Test]
    public async Task Neither_the_vendor_secret_nor_the_brake_key_appears_in_logs_audit_records_or_exception_messages()
    {
        await using var host = StripeGuardHost.Start(policy =>
        {
            policy.AllowStripeCustomers("cus_allowed");
            policy.Endpoints.Deny.Add("* /v1/payouts/**");
            policy.PerRequestMax = Usd.FromDollars(60);
        });
        host.Stub.FailOnce("/v1/charges", 500);
        var charges = new ChargeService(host.Stripe);
        var messages = new List<string>();

        // Allowed, retried, declined by policy for several reasons, revoked: every path that logs or audits.
        await charges.CreateAsync(new ChargeCreateOptions { Amount = 5000, Currency = "usd", Customer = "cus_allowed" });
        messages.Add(Assert.ThrowsAsync<StripeException>(() => charges.CreateAsync(new ChargeCreateOptions { Amount = 5000, Currency = "usd", Customer = "cus_other" }))!.Message);
        messages.Add(Assert.ThrowsAsync<StripeException>(() => charges.CreateAsync(new ChargeCreateOptions { Amount = 9000, Currency = "usd", Customer = "cus_allowed" }))!.Message);
        messages.Add(Assert.ThrowsAsync<StripeException>(() => charges.CreateAsync(new ChargeCreateOptions { Amount = 5001, Currency = "usd", Customer = "cus_allowed" }))!.Message);
        messages.Add(Assert.ThrowsAsync<StripeException>(() => new PayoutService(host.Stripe).CreateAsync(new PayoutCreateOptions { Amount = 100, Currency = "usd" }))!.Message);
        await host.Admin.RevokeKeyAsync(StripeGuardHost.KeyId);
        messages.Add(Assert.ThrowsAsync<StripeException>(() => charges.CreateAsync(new ChargeCreateOptions { Amount = 100, Currency = "usd", Customer = "cus_allowed" }))!.Message);

        var logs = string.Join("\n", host.Logs.Logs.Select(l => l.Message + l.Exception));
        var audit = string.Join("\n", host.Audit.Records.Select(r => JsonSerializer.Serialize(r)));
        var everything = string.Join("\n", logs, audit, string.Join("\n", messages));
        Assert.Multiple(() =>
        {
            Assert.That(host.Audit.Records, Has.Count.EqualTo(7));
            Assert.That(logs, Does.Contain("Keybrake denied"), "the logs were captured");
            Assert.That(everything, Does.Not.Contain(StripeGuardHost.VendorSecret));
            Assert.That(everything, Does.Not.Contain(StripeGuardHost.BrakeKey));
            Assert.That(everything, Does.Not.Contain("sk_test_"));
            Assert.That(everything, Does.Not.Contain("vault_key_test"));
            Assert.That(host.Stub.Received.Select(r => r.Headers["Authorization"]), Is.All.EqualTo("Bearer " + StripeGuardHost.VendorSecret), "and the vendor never saw a brake key");
        });
    }

    [Test]
    public async Task Audit_parameters_keep_amounts_and_ids_and_redact_everything_else()
    {
        await using var host = StripeGuardHost.Start();

        await new ChargeService(host.Stripe).CreateAsync(
            new ChargeCreateOptions
            {
                Amount = 1234,
                Currency = "usd",
                Customer = "cus_123",
                Description = "Refund for jane@example.com, call +14155550100",
                ReceiptEmail = "jane@example.com",
                Metadata = new Dictionary<string, string> { ["card_number"] = "4242424242424242" },
            },
            new RequestOptions { StripeAccount = "acct_42" });

        var parameters = host.Audit.Records.Single().Parameters!;
        var serialized = JsonSerializer.Serialize(parameters);
        Assert.Multiple(() =>
        {
            Assert.That(parameters["amount"], Is.EqualTo("1234"));
            Assert.That(parameters["currency"], Is.EqualTo("usd"));
            Assert.That(parameters["customer"], Is.EqualTo("cus_123"));
            Assert.That(parameters["stripe_account"], Is.EqualTo("acct_42"));
            Assert.That(parameters["description"], Is.EqualTo("[redacted]"));
            Assert.That(parameters["receipt_email"], Is.EqualTo("[redacted]"));
            Assert.That(parameters["metadata[card_number]"], Is.EqualTo("[redacted]"));
            Assert.That(serialized, Does.Not.Contain("jane@example.com").And.Not.Contain("4242424242424242").And.Not.Contain("4155550100"));
        });
    }
}
