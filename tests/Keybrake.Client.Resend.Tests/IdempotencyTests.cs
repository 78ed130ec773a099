using System.Net;
using System.Net.Http.Json;
using Keybrake.Client.Resend.Tests.Sdk;
using Microsoft.Extensions.DependencyInjection;

namespace Keybrake.Client.Resend.Tests;

public sealed class IdempotencyTests
{
    [Test]
    public async Task A_retried_send_with_the_same_Idempotency_Key_reserves_once_and_Resend_sends_once()
    {
        await using var host = ResendGuardHost.Start();
        var email = EmailMessage.To_("jane@customer.example", "joe@customer.example");

        var first = await host.Resend.EmailSendAsync("welcome-user-123", email);
        var retry = await host.Resend.EmailSendAsync("welcome-user-123", email);

        var spend = await host.SpendAsync();
        Assert.Multiple(() =>
        {
            Assert.That(retry, Is.EqualTo(first), "Resend answers a retry with the first email's id");
            Assert.That(host.Stub.EmailsSent, Is.EqualTo(1));
            Assert.That(spend.Settled, Is.EqualTo(Usd.FromMicros(1800)), "two recipients, counted once");
            Assert.That(host.Audit.Records.Select(r => r.Settlement), Is.EqualTo(new[] { "commit", "replay" }));
            Assert.That(host.Audit.Records.Select(r => r.IdempotencyKey), Is.All.EqualTo("welcome-user-123"));
        });
    }

    [Test]
    public async Task A_batch_retried_after_a_server_error_with_the_same_key_settles_the_one_reservation()
    {
        await using var host = ResendGuardHost.Start(resend: o => o.PricePerEmail = Usd.FromCents(1));
        host.Stub.FailOnce("/emails/batch", 500);
        var emails = Enumerable.Range(0, 4).Select(i => EmailMessage.To_($"c{i}@customer.example")).ToList();

        Assert.ThrowsAsync<ResendApiException>(() => host.Resend.EmailBatchAsync(emails, "strict", "batch-2026-11-28"));
        var held = await host.SpendAsync();
        await host.Resend.EmailBatchAsync(emails, "strict", "batch-2026-11-28");

        var spend = await host.SpendAsync();
        Assert.Multiple(() =>
        {
            Assert.That(held.Reserved, Is.EqualTo(Usd.FromCents(4)), "after the 500 nobody knows whether Resend sent: held");
            Assert.That(spend.Settled, Is.EqualTo(Usd.FromCents(4)), "the retry settles that reservation: 4 emails, counted once");
            Assert.That(spend.Reserved, Is.EqualTo(Usd.Zero));
        });
    }

    [Test]
    public async Task Without_an_Idempotency_Key_the_guard_gives_the_call_its_own_so_a_resend_of_the_same_request_reserves_once()
    {
        using var stub = TestUtilities.Resend.ResendStub.Start();
        var services = new ServiceCollection();
        services.AddKeybrake(o => o.AddKey("mailer", key =>
        {
            key.BrakeKey = "vault_key_test_retrying_mailer_0001";
            key.Vendor = "resend";
            key.VendorSecret = "re_retrying_mailer_secret";
            key.VendorEndpoint = stub.Url;
            key.Policy.DailyCap = Usd.FromDollars(1);
        }));

        // A retry handler outside the guard, as a resilience handler added first would be: it re-sends the same request.
        services.AddHttpClient("mailer", c => c.BaseAddress = new Uri(stub.Url))
            .AddHttpMessageHandler(() => new RetryOnServerErrorHandler())
            .AddKeybrakeResendGuard();
        await using var provider = services.BuildServiceProvider();
        stub.FailOnce("/emails", 503);
        var http = provider.GetRequiredService<IHttpClientFactory>().CreateClient("mailer");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/emails") { Content = JsonContent.Create(EmailMessage.To_("jane@customer.example")) };
        request.Headers.Authorization = new("Bearer", "vault_key_test_retrying_mailer_0001");

        using var response = await http.SendAsync(request);

        var spend = await provider.GetRequiredService<IKeybrakeAdmin>().GetDailySpendAsync("mailer");
        var keys = stub.Received.Select(r => r.Headers["Idempotency-Key"]).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(keys, Has.Count.EqualTo(2));
            Assert.That(keys.Distinct().Single(), Does.StartWith("keybrake-"), "both attempts carried the key the guard made");
            Assert.That(stub.EmailsSent, Is.EqualTo(1));
            Assert.That(spend.Settled, Is.EqualTo(Usd.FromMicros(900)), "one reservation for both attempts");
            Assert.That(spend.Reserved, Is.EqualTo(Usd.Zero));
        });
    }

    [Test]
    public async Task Separate_sends_without_a_key_get_separate_keys_and_the_loop_breaker_still_counts_them()
    {
        await using var host = ResendGuardHost.Start(policy => policy.LoopBreaker.MaxRepeats = 3);
        var email = EmailMessage.To_("jane@customer.example");

        for (var i = 0; i < 3; i++)
        {
            await host.Resend.EmailSendAsync(email);
        }

        var looped = Assert.ThrowsAsync<ResendApiException>(() => host.Resend.EmailSendAsync(email));

        Assert.Multiple(() =>
        {
            Assert.That(looped!.Decision, Is.EqualTo(ReasonCodes.LoopDetected));
            Assert.That(host.Stub.Received.Select(r => r.Headers["Idempotency-Key"]).Distinct().Count(), Is.EqualTo(3));
            Assert.That(host.Stub.EmailsSent, Is.EqualTo(3));
        });
    }

    [Test]
    public async Task The_same_key_with_a_different_email_is_denied_before_it_reaches_Resend()
    {
        await using var host = ResendGuardHost.Start();
        await host.Resend.EmailSendAsync("order-42", EmailMessage.To_("jane@customer.example"));

        var denied = Assert.ThrowsAsync<ResendApiException>(() => host.Resend.EmailSendAsync("order-42", EmailMessage.To_("someone.else@customer.example")));

        Assert.Multiple(() =>
        {
            Assert.That(denied!.Decision, Is.EqualTo(ReasonCodes.MalformedRequest));
            Assert.That(host.Stub.Received, Has.Count.EqualTo(1));
        });
    }

    [Test]
    public async Task An_Idempotency_Key_longer_than_Resend_accepts_is_denied()
    {
        await using var host = ResendGuardHost.Start();

        var denied = Assert.ThrowsAsync<ResendApiException>(() => host.Resend.EmailSendAsync(new string('k', 257), EmailMessage.To_("jane@customer.example")));

        Assert.Multiple(() =>
        {
            Assert.That(denied!.Decision, Is.EqualTo(ReasonCodes.MalformedRequest));
            Assert.That(host.Stub.Received, Is.Empty);
        });
    }

    /// <summary>Re-sends the same request once after a 5xx, as a retry handler outside the guard would.</summary>
    private sealed class RetryOnServerErrorHandler : DelegatingHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var response = await base.SendAsync(request, cancellationToken);
            if ((int)response.StatusCode < 500)
            {
                return response;
            }

            response.Dispose();
            return await base.SendAsync(request, cancellationToken);
        }
    }
}
