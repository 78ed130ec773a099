using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using static Keybrake.Client.Tests.CentralGuardHost;

namespace Keybrake.Client.Tests;

public sealed class CentralCapTests
{
    [Test]
    public async Task The_service_s_daily_cap_holds_for_calls_that_cost_money()
    {
        await using var service = await CentralGuardHost.StartServiceAsync(dailyCap: "100");
        await using var host = CentralGuardHost.Start(service.Address);

        using var first = await host.SpendAsync(6_000);
        using var over = await host.SpendAsync(5_000);
        using var exact = await host.SpendAsync(4_000);

        var spend = await host.SettledTodayAsync();
        Assert.Multiple(() =>
        {
            Assert.That(first.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(DecisionOf(over), Is.EqualTo(ReasonCodes.DailyCapExceeded));
            Assert.That(exact.StatusCode, Is.EqualTo(HttpStatusCode.OK), "$60 + $40 is exactly the cap");
            Assert.That(host.Vendor.Received, Has.Count.EqualTo(2));
            Assert.That(spend.Cap, Is.EqualTo(Usd.FromDollars(100)), "the cap is the service's: the key in this process sets none");
            Assert.That(spend.Settled, Is.EqualTo(Usd.FromDollars(100)));
            Assert.That(spend.Reserved, Is.EqualTo(Usd.Zero));
        });
    }

    [Test]
    public async Task Two_processes_guarding_one_key_share_its_cap_at_the_service()
    {
        await using var service = await CentralGuardHost.StartServiceAsync(dailyCap: "100");
        await using var first = CentralGuardHost.Start(service.Address);
        await using var second = CentralGuardHost.Start(service.Address);

        using var firstSpends = await first.SpendAsync(7_000);
        using var secondOver = await second.SpendAsync(4_000);
        using var secondFits = await second.SpendAsync(3_000);

        Assert.Multiple(() =>
        {
            Assert.That(firstSpends.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(DecisionOf(secondOver), Is.EqualTo(ReasonCodes.DailyCapExceeded), "$70 spent by the other process counts here too");
            Assert.That(secondFits.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(second.Vendor.Received, Has.Count.EqualTo(1));
        });
    }

    [Test]
    public async Task Settlements_reach_the_service_with_what_the_vendor_says_the_call_cost()
    {
        await using var service = await CentralGuardHost.StartServiceAsync();
        await using var host = CentralGuardHost.Start(service.Address);
        host.Vendor.RespondNext(HttpStatusCode.OK, """{"amount_cents":900}""");

        using var response = await host.SpendAsync(1_000);

        var spend = await host.SettledTodayAsync();
        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(spend.Reserved, Is.EqualTo(Usd.Zero), "the settlement reached the service");
            Assert.That(spend.Settled, Is.EqualTo(Usd.FromDollars(9)));
        });
    }

    [Test]
    public async Task A_key_needs_no_daily_cap_in_central_mode_but_does_in_embedded_mode()
    {
        await using var service = await CentralGuardHost.StartServiceAsync();
        await using var host = CentralGuardHost.Start(service.Address, policy: p => p.DailyCap = null);
        var embedded = new ServiceCollection();
        embedded.AddKeybrake(o => o.AddKey(CentralGuardHost.KeyId, key =>
        {
            key.BrakeKey = CentralGuardHost.BrakeKey;
            key.Vendor = TestVendorProfile.Name;
            key.VendorSecret = CentralGuardHost.VendorSecret;
        })).AddVendor<TestVendorProfile>();
        await using var embeddedProvider = embedded.BuildServiceProvider();

        using var response = await host.SpendAsync(1_000);

        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(() => embeddedProvider.GetRequiredService<IOptions<KeybrakeOptions>>().Value,
                Throws.InstanceOf<OptionsValidationException>().With.Message.Contains("DailyCap is required"));
        });
    }
}
