using System.Net;

namespace Keybrake.Client.Tests;

public sealed class GuardForwardingTests
{
    [Test]
    public async Task An_allowed_call_reaches_the_vendor_with_the_real_secret_in_place_of_the_brake_key()
    {
        await using var host = GuardHost.Start();

        using var response = await host.SpendAsync(1250);

        var received = host.Vendor.Received.Single();
        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(response.Headers.Contains(KeybrakeHeaders.Decision), Is.False);
            Assert.That(received.Authorization, Is.EqualTo("Bearer " + GuardHost.VendorSecret));
            Assert.That(received.Headers.Values, Has.None.Contains(GuardHost.BrakeKey));
            Assert.That(received.Body, Is.EqualTo("amount_cents=1250"), "the body the guard read is still there for the vendor");
        });
    }

    [Test]
    public async Task The_vendor_s_answer_reaches_the_caller_unchanged()
    {
        await using var host = GuardHost.Start();
        host.Vendor.RespondNext(HttpStatusCode.OK, """{"ok":true,"amount_cents":1250,"id":"sp_1"}""");

        using var response = await host.SpendAsync(1250);

        Assert.That(await response.Content.ReadAsStringAsync(), Is.EqualTo("""{"ok":true,"amount_cents":1250,"id":"sp_1"}"""), "the guard read the body and left it readable");
    }

    [Test]
    public async Task A_call_that_costs_nothing_is_forwarded_without_a_reservation()
    {
        await using var host = GuardHost.Start(policy => policy.DailyCap = Usd.Zero);
        using var client = host.Client();

        using var response = await client.GetAsync("/v1/items/it_1");

        var spend = await host.TodayAsync();
        var unsettled = await host.Admin.ListUnsettledAsync();
        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(host.Vendor.Received, Has.Count.EqualTo(1));
            Assert.That(spend.Committed, Is.EqualTo(Usd.Zero));
            Assert.That(unsettled, Is.Empty);
        });
    }

    [Test]
    public async Task Calls_are_allowed_until_the_daily_cap_and_then_denied()
    {
        await using var host = GuardHost.Start(policy => policy.DailyCap = Usd.FromDollars(10));

        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 5; i++)
        {
            using var response = await host.SpendAsync(300);
            statuses.Add(response.StatusCode);
        }

        var spend = await host.TodayAsync();
        Assert.Multiple(() =>
        {
            Assert.That(statuses, Is.EqualTo(new[] { HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.PaymentRequired, HttpStatusCode.PaymentRequired }));
            Assert.That(spend.Settled, Is.EqualTo(Usd.FromDollars(9)));
            Assert.That(host.Vendor.Received, Has.Count.EqualTo(3));
        });
    }

    [Test]
    public async Task The_run_cap_applies_to_calls_inside_a_KeybrakeRun()
    {
        await using var host = GuardHost.Start(policy => policy.RunCap = Usd.FromDollars(5));

        HttpStatusCode inRunA;
        HttpStatusCode overInRunA;
        HttpStatusCode inRunB;
        using (KeybrakeRun.Begin("run_a"))
        {
            using var first = await host.SpendAsync(400);
            using var second = await host.SpendAsync(200);
            inRunA = first.StatusCode;
            overInRunA = second.StatusCode;
        }

        using (KeybrakeRun.Begin("run_b"))
        {
            using var third = await host.SpendAsync(400);
            inRunB = third.StatusCode;
        }

        var runA = await host.Admin.GetRunSpendAsync(GuardHost.KeyId, "run_a");
        Assert.Multiple(() =>
        {
            Assert.That(inRunA, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(overInRunA, Is.EqualTo(HttpStatusCode.PaymentRequired));
            Assert.That(inRunB, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(runA.Settled, Is.EqualTo(Usd.FromDollars(4)));
        });
    }
}
