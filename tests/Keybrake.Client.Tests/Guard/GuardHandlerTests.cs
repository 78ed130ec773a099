using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Keybrake.Client.Tests;

public sealed class GuardHandlerTests
{
    [Test]
    public async Task A_guard_added_twice_to_one_client_reserves_and_audits_once_per_call()
    {
        await using var host = GuardHost.Start(policy => policy.DailyCap = Usd.FromDollars(10), guards: 2);

        using var first = await host.SpendAsync(600);
        using var second = await host.SpendAsync(600);

        var spend = await host.TodayAsync();
        Assert.Multiple(() =>
        {
            Assert.That(spend.Settled, Is.EqualTo(Usd.FromDollars(6)), "one reservation of $6, not two");
            Assert.That(second.Headers.GetValues(KeybrakeHeaders.Decision).Single(), Is.EqualTo(ReasonCodes.DailyCapExceeded), "$6 + $6 > $10");
            Assert.That(host.Audit.Records, Has.Count.EqualTo(2));
            Assert.That(host.Vendor.Received, Has.Count.EqualTo(1));
        });
    }

    [Test]
    public async Task A_retry_handler_outside_the_guard_cannot_resend_the_request_past_it()
    {
        await using var host = GuardHost.Start(policy => policy.DailyCap = Usd.FromDollars(10), outerHandler: () => new RetryOnServerErrorHandler());
        host.Vendor.RespondNext(HttpStatusCode.InternalServerError);

        using var response = await host.SpendAsync(600);

        var records = host.Audit.Records;
        Assert.Multiple(() =>
        {
            Assert.That(records, Has.Count.EqualTo(2), "the retry passed the guard too");
            Assert.That(records.Select(r => r.Decision), Is.EqualTo(new[] { "allow", "deny" }), "the held $6 and another $6 exceed $10");
            Assert.That(host.Vendor.Received, Has.Count.EqualTo(1));
        });
    }

    [Test]
    public async Task A_synchronous_send_throws_NotSupportedException_instead_of_bypassing_the_guard()
    {
        await using var host = GuardHost.Start();
        using var client = host.Client();
        using var request = GuardHost.SpendRequest(500);

        var error = Assert.Throws<NotSupportedException>(() => client.Send(request));

        var spend = await host.TodayAsync();
        Assert.Multiple(() =>
        {
            Assert.That(error!.Message, Does.Contain("SendAsync"));
            Assert.That(host.Vendor.Received, Is.Empty);
            Assert.That(spend.Committed, Is.EqualTo(Usd.Zero));
        });
    }

    [Test]
    public async Task A_client_from_KeybrakeGuard_without_a_host_is_guarded()
    {
        var vendor = new FakeVendorHandler();
        await using var keybrake = KeybrakeGuard.Create(k => k
            .Configure(o => o.AddKey("console", key =>
            {
                key.BrakeKey = "vault_key_console_agent_0000000001";
                key.Vendor = TestVendorProfile.Name;
                key.VendorSecret = "tv_console_secret";
                key.Policy.DailyCap = Usd.FromDollars(5);
            }))
            .AddVendor<TestVendorProfile>());
        using var client = keybrake.CreateHttpClient(TestVendorProfile.Name, vendor);
        client.BaseAddress = GuardHost.BaseAddress;
        client.DefaultRequestHeaders.Authorization = new("Bearer", "vault_key_console_agent_0000000001");

        using var allowed = await client.SendAsync(GuardHost.SpendRequest(400));
        using var denied = await client.SendAsync(GuardHost.SpendRequest(400));

        var spend = await keybrake.Admin.GetDailySpendAsync("console");
        Assert.Multiple(() =>
        {
            Assert.That(vendor.Received.Single().Authorization, Is.EqualTo("Bearer tv_console_secret"));
            Assert.That(denied.Headers.GetValues(KeybrakeHeaders.Decision).Single(), Is.EqualTo(ReasonCodes.DailyCapExceeded));
            Assert.That(spend.Settled, Is.EqualTo(Usd.FromDollars(4)));
        });
    }

    [Test]
    public void KeybrakeGuard_Create_throws_OptionsValidationException_for_an_invalid_policy()
    {
        Assert.Throws<OptionsValidationException>(() => KeybrakeGuard.Create(k => k
            .Configure(o => o.AddKey("console", key =>
            {
                key.BrakeKey = "vault_key_console_agent_0000000001";
                key.Vendor = TestVendorProfile.Name;
                key.VendorSecret = "tv_console_secret";
            }))
            .AddVendor<TestVendorProfile>()));
    }

    /// <summary>Re-sends the same request once after a 5xx, as a resilience handler does.</summary>
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
