using Keybrake.Client.Resend.Tests.Sdk;

namespace Keybrake.Client.Resend.Tests;

public sealed class MoneyFlowTests
{
    private static readonly Usd Cent = Usd.FromCents(1);

    [Test]
    public async Task One_email_within_the_cap_is_sent_and_settles_at_the_price_times_its_recipients()
    {
        await using var host = ResendGuardHost.Start();

        var id = await host.Resend.EmailSendAsync(new EmailMessage
        {
            To = ["jane@customer.example"],
            Cc = ["ops@acme.example"],
            Bcc = ["audit@acme.example"],
        });

        var spend = await host.SpendAsync();
        var record = host.Audit.Records.Single();
        Assert.Multiple(() =>
        {
            Assert.That(id, Is.Not.EqualTo(Guid.Empty));
            Assert.That(host.Stub.EmailsSent, Is.EqualTo(1));
            Assert.That(host.Stub.RecipientsSent, Is.EqualTo(3));
            Assert.That(spend.Settled, Is.EqualTo(Usd.FromMicros(3 * 900)), "Resend counts to, cc and bcc as three emails at USD 0.0009");
            Assert.That(spend.Reserved, Is.EqualTo(Usd.Zero));
            Assert.That(record.Decision, Is.EqualTo("allow"));
            Assert.That(record.Settlement, Is.EqualTo("commit"));
            Assert.That(record.Endpoint, Is.EqualTo("/emails"));
            Assert.That(record.Parameters!["recipients"], Is.EqualTo("3"));
        });
    }

    [TestCase(1)]
    [TestCase(7)]
    [TestCase(100)]
    public async Task A_strict_batch_of_n_emails_settles_at_n_times_the_price(int n)
    {
        await using var host = ResendGuardHost.Start(resend: o => o.PricePerEmail = Cent);

        var ids = await host.Resend.EmailBatchAsync(Enumerable.Range(0, n).Select(i => EmailMessage.To_($"customer{i}@customer.example")));

        var spend = await host.SpendAsync();
        Assert.Multiple(() =>
        {
            Assert.That(ids, Has.Count.EqualTo(n));
            Assert.That(host.Stub.EmailsSent, Is.EqualTo(n));
            Assert.That(spend.Settled, Is.EqualTo(Usd.FromCents(n)));
            Assert.That(host.Audit.Records.Single().Parameters!["emails"], Is.EqualTo(n.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        });
    }

    [Test]
    public async Task A_batch_counts_every_recipient_of_every_email()
    {
        await using var host = ResendGuardHost.Start(resend: o => o.PricePerEmail = Cent);

        await host.Resend.EmailBatchAsync(
        [
            new EmailMessage { To = ["a@customer.example", "b@customer.example"], Cc = ["c@customer.example"] },
            new EmailMessage { To = ["d@customer.example"], Bcc = ["e@customer.example", "f@customer.example"] },
        ]);

        Assert.That((await host.SpendAsync()).Settled, Is.EqualTo(Usd.FromCents(6)));
    }

    [Test]
    public async Task A_permissive_batch_settles_only_for_the_emails_Resend_sent()
    {
        await using var host = ResendGuardHost.Start(resend: o => o.PricePerEmail = Cent);
        var emails = new[]
        {
            new EmailMessage { To = ["a@customer.example", "b@customer.example"] },
            new EmailMessage { To = ["c@customer.example"], Subject = null }, // Resend refuses it: no subject
            new EmailMessage { To = ["d@customer.example"], Cc = ["e@customer.example", "f@customer.example"] },
            new EmailMessage { To = ["g@customer.example"], From = null }, // nor this one: no sender
        };

        var answer = await host.Resend.EmailBatchAsync(emails, "permissive");

        var spend = await host.SpendAsync();
        var record = host.Audit.Records.Single();
        Assert.Multiple(() =>
        {
            Assert.That(answer.Data, Has.Count.EqualTo(2));
            Assert.That(answer.Errors!.Select(e => e.Index), Is.EquivalentTo(new[] { 1, 3 }));
            Assert.That(host.Stub.RecipientsSent, Is.EqualTo(5));
            Assert.That(spend.Settled, Is.EqualTo(Usd.FromCents(5)), "reserved 7 recipients, settled for the 5 Resend sent to");
            Assert.That(record.EstimatedMicroUsd, Is.EqualTo(Usd.FromCents(7).Micros));
            Assert.That(record.SettledMicroUsd, Is.EqualTo(Usd.FromCents(5).Micros));
            Assert.That(record.Parameters!["x-batch-validation"], Is.EqualTo("permissive"));
        });
    }

    [Test]
    public async Task A_send_Resend_refuses_releases_its_reservation()
    {
        await using var host = ResendGuardHost.Start();

        var refused = Assert.ThrowsAsync<ResendApiException>(() => host.Resend.EmailSendAsync(new EmailMessage { To = ["jane@customer.example"], Subject = null }));

        var spend = await host.SpendAsync();
        Assert.Multiple(() =>
        {
            Assert.That(refused!.ErrorName, Is.EqualTo("missing_required_field"), "Resend's own error reaches the agent unchanged");
            Assert.That(spend.Committed, Is.EqualTo(Usd.Zero));
            Assert.That(host.Audit.Records.Single().Settlement, Is.EqualTo("release"));
        });
    }

    [Test]
    public async Task A_send_that_fails_with_a_server_error_stays_counted_until_resolved()
    {
        await using var host = ResendGuardHost.Start();
        host.Stub.FailOnce("/emails", 500);

        Assert.ThrowsAsync<ResendApiException>(() => host.Resend.EmailSendAsync(EmailMessage.To_("jane@customer.example")));

        var spend = await host.SpendAsync();
        Assert.Multiple(() =>
        {
            Assert.That(spend.Reserved, Is.EqualTo(Usd.FromMicros(900)), "Resend may have sent it: unknown is treated as spent");
            Assert.That(host.Audit.Records.Single().Settlement, Is.EqualTo("hold"));
        });
    }

    [Test]
    public async Task A_key_s_own_price_overrides_the_default()
    {
        await using var host = ResendGuardHost.Start(resend: o => o.KeyPrices[ResendGuardHost.KeyId] = Usd.FromMicros(400));

        await host.Resend.EmailSendAsync(EmailMessage.To_("jane@customer.example", "joe@customer.example"));

        Assert.That((await host.SpendAsync()).Settled, Is.EqualTo(Usd.FromMicros(800)));
    }

    [Test]
    public async Task Reads_and_other_calls_that_send_nothing_reserve_nothing()
    {
        await using var host = ResendGuardHost.Start(policy => policy.DailyCap = Usd.Zero);

        var domains = await host.Resend.DomainListAsync();

        var record = host.Audit.Records.Single();
        Assert.Multiple(() =>
        {
            Assert.That(domains, Is.Empty);
            Assert.That(record.Decision, Is.EqualTo("allow"));
            Assert.That(record.ReservationId, Is.Null);
        });
    }
}
