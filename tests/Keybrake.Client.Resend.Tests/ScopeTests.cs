using Keybrake.Client.Resend.Tests.Sdk;

namespace Keybrake.Client.Resend.Tests;

public sealed class ScopeTests
{
    private static readonly EmailMessage[] s_outsideRecipients =
    [
        new() { To = ["jane@competitor.example"] },
        new() { To = ["jane@customer.example"], Cc = ["leak@competitor.example"] },
        new() { To = ["jane@customer.example"], Bcc = ["Quiet Copy <leak@competitor.example>"] },
    ];

    [TestCase(0, "to")]
    [TestCase(1, "cc")]
    [TestCase(2, "bcc")]
    public async Task A_recipient_outside_the_allowed_domains_is_denied_in_to_cc_and_bcc(int which, string field)
    {
        await using var host = ResendGuardHost.Start(policy => policy.AllowResendRecipientDomains("customer.example"));

        var denied = Assert.ThrowsAsync<ResendApiException>(() => host.Resend.EmailSendAsync(s_outsideRecipients[which]));

        Assert.Multiple(() =>
        {
            Assert.That(denied!.Decision, Is.EqualTo(ReasonCodes.RecipientNotAllowed));
            Assert.That(denied.ErrorName, Is.EqualTo("invalid_access"));
            Assert.That((int?)denied.StatusCode, Is.EqualTo(403));
            Assert.That(denied.Message, Does.StartWith("keybrake_recipient_not_allowed: "));
            Assert.That(denied.Message, Does.Contain($"'{field}'").And.Contain("'competitor.example'"));
            Assert.That(denied.Message, Does.Not.Contain("leak@").And.Not.Contain("jane@"), "the message names the domain, never the address");
            Assert.That(host.Stub.Received, Is.Empty);
        });
    }

    [Test]
    public async Task One_outside_recipient_in_a_batch_denies_the_whole_batch()
    {
        await using var host = ResendGuardHost.Start(policy => policy.AllowResendRecipientDomains("customer.example"));

        var denied = Assert.ThrowsAsync<ResendApiException>(() => host.Resend.EmailBatchAsync(
        [
            EmailMessage.To_("a@customer.example"),
            new EmailMessage { To = ["b@customer.example"], Bcc = ["c@competitor.example"] },
        ]));

        Assert.Multiple(() =>
        {
            Assert.That(denied!.Decision, Is.EqualTo(ReasonCodes.RecipientNotAllowed));
            Assert.That(denied.Message, Does.Contain("email 1 of the batch"));
            Assert.That(host.Stub.Received, Is.Empty);
        });
    }

    [TestCase("Jane@CUSTOMER.Example", true, TestName = "Domains compare without case")]
    [TestCase("Jane Doe <jane@customer.example>", true, TestName = "A display name is allowed")]
    [TestCase("\"Doe, Jane\" <jane@customer.example>", true, TestName = "A quoted display name with a comma is one address")]
    [TestCase("jane@customer.example.", true, TestName = "A trailing dot is the same domain")]
    [TestCase("jane@mail.customer.example", false, TestName = "A plain entry does not allow subdomains")]
    [TestCase("jane@customer.example.evil.example", false, TestName = "A suffix that only looks alike is another domain")]
    [TestCase("jane@evilcustomer.example", false, TestName = "A domain ending in the same letters is another domain")]
    [TestCase("ops@eu.partner.example", true, TestName = "A wildcard entry allows a subdomain")]
    [TestCase("ops@a.b.partner.example", true, TestName = "A wildcard entry allows deeper subdomains")]
    [TestCase("ops@partner.example", false, TestName = "A wildcard entry does not allow the domain itself")]
    [TestCase("kunde@bücher.example", true, TestName = "An internationalised domain matches its punycode entry")]
    public async Task Recipient_domains_match_exactly_ignoring_case(string recipient, bool allowed)
    {
        await using var host = ResendGuardHost.Start(policy => policy.AllowResendRecipientDomains("customer.example", "*.partner.example", "xn--bcher-kva.example"));

        string? decision = null;
        try
        {
            await host.Resend.EmailSendAsync(EmailMessage.To_(recipient));
        }
        catch (ResendApiException denied)
        {
            decision = denied.Decision;
        }

        Assert.That(decision, allowed ? Is.Null : Is.EqualTo(ReasonCodes.RecipientNotAllowed));
    }

    [TestCase("jane@customer.example, evil@competitor.example", TestName = "Two addresses in one string")]
    [TestCase("evil@competitor.example <jane@customer.example>", TestName = "An address hidden in the display name")]
    [TestCase("Jane <jane@customer.example> <evil@competitor.example>", TestName = "Two angle-bracketed addresses")]
    [TestCase("jane@customer.example>", TestName = "A stray bracket")]
    [TestCase("jane", TestName = "No domain at all")]
    [TestCase("jane@", TestName = "An empty domain")]
    [TestCase("jane@cust_omer.example", TestName = "A domain that is not a host name")]
    public async Task A_recipient_whose_domain_cannot_be_read_is_refused_not_guessed(string recipient)
    {
        await using var host = ResendGuardHost.Start(policy => policy.AllowResendRecipientDomains("customer.example"));

        var denied = Assert.ThrowsAsync<ResendApiException>(() => host.Resend.EmailSendAsync(EmailMessage.To_(recipient)));

        Assert.Multiple(() =>
        {
            Assert.That(denied!.Decision, Is.EqualTo(ReasonCodes.MalformedRequest));
            Assert.That(denied.ErrorName, Is.EqualTo("validation_error"));
            Assert.That(host.Stub.Received, Is.Empty);
        });
    }

    [Test]
    public async Task An_email_over_the_per_email_recipient_limit_is_denied()
    {
        await using var host = ResendGuardHost.Start(policy => policy.LimitResendRecipients(perEmail: 3));

        await host.Resend.EmailSendAsync(new EmailMessage { To = ["a@x.example", "b@x.example"], Cc = ["c@x.example"] });
        var denied = Assert.ThrowsAsync<ResendApiException>(() =>
            host.Resend.EmailSendAsync(new EmailMessage { To = ["a@x.example", "b@x.example"], Cc = ["c@x.example"], Bcc = ["d@x.example"] }));

        Assert.Multiple(() =>
        {
            Assert.That(denied!.Decision, Is.EqualTo(ReasonCodes.RecipientNotAllowed));
            Assert.That(denied.Message, Does.Contain("4 recipients").And.Contain("maxRecipientsPerEmail of 3"));
            Assert.That(host.Stub.EmailsSent, Is.EqualTo(1));
        });
    }

    [Test]
    public async Task A_batch_over_the_per_request_recipient_limit_is_denied_though_each_email_is_within_its_own()
    {
        await using var host = ResendGuardHost.Start(policy => policy.LimitResendRecipients(perEmail: 2, perRequest: 10));

        await host.Resend.EmailBatchAsync(Enumerable.Range(0, 5).Select(i => EmailMessage.To_($"a{i}@x.example", $"b{i}@x.example")));
        var denied = Assert.ThrowsAsync<ResendApiException>(() =>
            host.Resend.EmailBatchAsync(Enumerable.Range(0, 11).Select(i => EmailMessage.To_($"a{i}@x.example"))));

        Assert.Multiple(() =>
        {
            Assert.That(denied!.Decision, Is.EqualTo(ReasonCodes.RecipientNotAllowed));
            Assert.That(denied.Message, Does.Contain("11 recipients").And.Contain("maxRecipientsPerRequest of 10"));
            Assert.That(host.Stub.EmailsSent, Is.EqualTo(5));
        });
    }

    [Test]
    public async Task A_broadcast_is_denied_by_an_endpoint_rule()
    {
        await using var host = ResendGuardHost.Start(policy => policy.Endpoints.Deny.Add("POST /broadcasts/**"));

        var denied = Assert.ThrowsAsync<ResendApiException>(() => host.Resend.BroadcastSendAsync(Guid.NewGuid()));

        Assert.Multiple(() =>
        {
            Assert.That(denied!.Decision, Is.EqualTo(ReasonCodes.EndpointNotAllowed));
            Assert.That(denied.ErrorName, Is.EqualTo("invalid_access"));
            Assert.That(host.Stub.Received, Is.Empty);
        });
    }

    [Test]
    public async Task A_broadcast_reaches_a_segment_of_unknown_size_so_without_a_per_request_maximum_it_is_denied()
    {
        await using var host = ResendGuardHost.Start();

        var denied = Assert.ThrowsAsync<ResendApiException>(() => host.Resend.BroadcastSendAsync(Guid.NewGuid()));

        Assert.Multiple(() =>
        {
            Assert.That(denied!.Decision, Is.EqualTo(ReasonCodes.AmountOverRequestLimit));
            Assert.That(denied.Message, Does.Contain("POST /broadcasts/**").And.Contain("PerRequestMax"));
            Assert.That(host.Stub.Received, Is.Empty);
        });
    }

    [Test]
    public async Task A_broadcast_with_a_per_request_maximum_reserves_and_spends_that_maximum()
    {
        await using var host = ResendGuardHost.Start(policy => policy.PerRequestMax = Usd.FromCents(50));

        await host.Resend.BroadcastSendAsync(Guid.NewGuid());

        var spend = await host.SpendAsync();
        Assert.Multiple(() =>
        {
            Assert.That(spend.Settled, Is.EqualTo(Usd.FromCents(50)));
            Assert.That(host.Audit.Records.Single().Endpoint, Is.EqualTo("/broadcasts/{id}/send"));
        });
    }
}
