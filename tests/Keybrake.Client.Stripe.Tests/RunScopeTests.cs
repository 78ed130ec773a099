using Stripe;

namespace Keybrake.Client.Stripe.Tests;

public sealed class RunScopeTests
{
    [Test]
    public async Task The_run_id_reaches_every_audit_record_across_awaits_and_Task_Run()
    {
        await using var host = StripeGuardHost.Start();
        var customers = new CustomerService(host.Stripe);

        using (KeybrakeRun.Begin("run_outer"))
        {
            await customers.GetAsync("cus_1");
            await Task.Yield();
            await Task.Run(() => customers.GetAsync("cus_2"));
            using (KeybrakeRun.Begin("run_inner"))
            {
                await customers.GetAsync("cus_3");
            }

            await customers.GetAsync("cus_4");
        }

        await customers.GetAsync("cus_5");

        Assert.That(
            host.Audit.Records.Select(r => r.RunId),
            Is.EqualTo(new[] { "run_outer", "run_outer", "run_inner", "run_outer", null }));
    }

    [Test]
    public async Task The_per_run_cap_stops_one_run_while_the_daily_cap_still_has_room()
    {
        await using var host = StripeGuardHost.Start(policy =>
        {
            policy.DailyCap = Usd.FromDollars(1000);
            policy.RunCap = Usd.FromDollars(50);
        });
        var charges = new ChargeService(host.Stripe);
        StripeException? denied;

        using (KeybrakeRun.Begin("run_a"))
        {
            await charges.CreateAsync(new ChargeCreateOptions { Amount = 4000, Currency = "usd", Source = "tok_visa" });
            denied = Assert.ThrowsAsync<StripeException>(() => charges.CreateAsync(new ChargeCreateOptions { Amount = 2000, Currency = "usd", Source = "tok_visa" }));
        }

        using (KeybrakeRun.Begin("run_b"))
        {
            await charges.CreateAsync(new ChargeCreateOptions { Amount = 4500, Currency = "usd", Source = "tok_visa" });
        }

        var runA = await host.Admin.GetRunSpendAsync(StripeGuardHost.KeyId, "run_a");
        var runB = await host.Admin.GetRunSpendAsync(StripeGuardHost.KeyId, "run_b");
        var day = await host.Admin.GetDailySpendAsync(StripeGuardHost.KeyId);
        Assert.Multiple(() =>
        {
            Assert.That(denied!.StripeError.Code, Is.EqualTo("keybrake_run_cap_exceeded"));
            Assert.That((int)denied.HttpStatusCode, Is.EqualTo(402));
            Assert.That(runA.Settled, Is.EqualTo(Usd.FromDollars(40)));
            Assert.That(runB.Settled, Is.EqualTo(Usd.FromDollars(45)));
            Assert.That(day.Settled, Is.EqualTo(Usd.FromDollars(85)));
        });
    }

    [Test]
    public async Task The_daily_cap_holds_across_runs()
    {
        await using var host = StripeGuardHost.Start(policy => policy.RunCap = Usd.FromDollars(60));
        var charges = new ChargeService(host.Stripe);

        using (KeybrakeRun.Begin("run_a"))
        {
            await charges.CreateAsync(new ChargeCreateOptions { Amount = 6000, Currency = "usd", Source = "tok_visa" });
        }

        StripeException? denied;
        using (KeybrakeRun.Begin("run_b"))
        {
            denied = Assert.ThrowsAsync<StripeException>(() => charges.CreateAsync(new ChargeCreateOptions { Amount = 5000, Currency = "usd", Source = "tok_visa" }));
        }

        Assert.That(denied!.StripeError.Code, Is.EqualTo("keybrake_daily_cap_exceeded"));
    }
}
