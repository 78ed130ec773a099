using Keybrake.Client.Resend.Tests.Sdk;

namespace Keybrake.Client.Resend.Tests;

public sealed class CapTests
{
    [Test]
    public async Task An_email_blast_stops_at_the_daily_cap_and_Resend_receives_nothing_past_it()
    {
        // $1.00 a day at 3 recipients x $0.05: six sends fit ($0.90), the seventh would make $1.05.
        await using var host = ResendGuardHost.Start(policy => policy.LoopBreaker.MaxRepeats = 0, resend: o => o.PricePerEmail = Usd.FromCents(5));
        var outcomes = new List<string>();

        for (var i = 0; i < 20; i++)
        {
            try
            {
                await host.Resend.EmailSendAsync(new EmailMessage { To = [$"customer{i}@customer.example"], Cc = ["ops@acme.example"], Bcc = ["audit@acme.example"] });
                outcomes.Add("sent");
            }
            catch (ResendApiException denied)
            {
                outcomes.Add(denied.Decision!);
            }
        }

        var spend = await host.SpendAsync();
        Assert.Multiple(() =>
        {
            Assert.That(outcomes.Take(6), Is.All.EqualTo("sent"));
            Assert.That(outcomes.Skip(6), Is.All.EqualTo(ReasonCodes.DailyCapExceeded));
            Assert.That(host.Stub.Received, Has.Count.EqualTo(6), "nothing past the cap reached Resend");
            Assert.That(host.Stub.RecipientsSent, Is.EqualTo(18));
            Assert.That(spend.Settled, Is.EqualTo(Usd.FromCents(90)));
            Assert.That(spend.Reserved, Is.EqualTo(Usd.Zero));
        });
    }

    [Test]
    public async Task A_batch_that_would_cross_the_cap_is_denied_whole()
    {
        await using var host = ResendGuardHost.Start(resend: o => o.PricePerEmail = Usd.FromCents(10));

        await host.Resend.EmailBatchAsync(Enumerable.Range(0, 6).Select(i => EmailMessage.To_($"c{i}@customer.example")));
        var denied = Assert.ThrowsAsync<ResendApiException>(() => host.Resend.EmailBatchAsync(Enumerable.Range(0, 5).Select(i => EmailMessage.To_($"d{i}@customer.example"))));
        var fits = await host.Resend.EmailBatchAsync(Enumerable.Range(0, 4).Select(i => EmailMessage.To_($"e{i}@customer.example")));

        Assert.Multiple(() =>
        {
            Assert.That(denied!.Decision, Is.EqualTo(ReasonCodes.DailyCapExceeded));
            Assert.That(denied.ErrorName, Is.EqualTo("invalid_access"));
            Assert.That((int?)denied.StatusCode, Is.EqualTo(402));
            Assert.That(denied.IsTransient, Is.False, "retry policies that follow the SDK's hint leave the denial alone");
            Assert.That(fits, Has.Count.EqualTo(4));
            Assert.That(host.Stub.EmailsSent, Is.EqualTo(10));
        });
    }

    [Test]
    public async Task A_run_cap_stops_one_run_while_another_run_still_sends()
    {
        await using var host = ResendGuardHost.Start(policy => policy.RunCap = Usd.FromCents(20), resend: o => o.PricePerEmail = Usd.FromCents(10));

        string? first;
        string? second;
        using (KeybrakeRun.Begin("run_newsletter_1"))
        {
            await host.Resend.EmailBatchAsync([EmailMessage.To_("a@customer.example"), EmailMessage.To_("b@customer.example")]);
            first = Assert.ThrowsAsync<ResendApiException>(() => host.Resend.EmailSendAsync(EmailMessage.To_("c@customer.example")))!.Decision;
        }

        using (KeybrakeRun.Begin("run_newsletter_2"))
        {
            await host.Resend.EmailSendAsync(EmailMessage.To_("c@customer.example"));
            second = null;
        }

        Assert.Multiple(() =>
        {
            Assert.That(first, Is.EqualTo(ReasonCodes.RunCapExceeded));
            Assert.That(second, Is.Null);
            Assert.That(host.Audit.Records.Select(r => r.RunId).Distinct(), Is.EquivalentTo(new[] { "run_newsletter_1", "run_newsletter_2" }));
        });
    }
}
