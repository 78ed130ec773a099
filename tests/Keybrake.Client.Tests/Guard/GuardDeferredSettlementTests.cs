using System.Net;

namespace Keybrake.Client.Tests;

/// <summary>The seam for vendors that price an object after creating it (Twilio messages).</summary>
public sealed class GuardDeferredSettlementTests
{
    [Test]
    public async Task A_deferred_reservation_stays_open_until_a_later_response_reports_the_price()
    {
        await using var host = GuardHost.Start();
        host.Vendor.RespondNext(HttpStatusCode.OK, """{"deferred_id":"obj_1"}""");
        using (await host.SpendAsync(1000))
        {
        }

        var open = await host.TodayAsync();
        var unsettled = await host.Admin.ListUnsettledAsync(GuardHost.KeyId);

        using var client = host.Client();
        host.Vendor.RespondNext(HttpStatusCode.OK, """{"priced_id":"obj_1","price_cents":700}""");
        using (await client.GetAsync("/v1/things/obj_1"))
        {
        }

        var settled = await host.TodayAsync();
        host.Vendor.RespondNext(HttpStatusCode.OK, """{"priced_id":"obj_1","price_cents":900}""");
        using (await client.GetAsync("/v1/things/obj_1"))
        {
        }

        var again = await host.TodayAsync();
        Assert.Multiple(() =>
        {
            Assert.That(open.Reserved, Is.EqualTo(Usd.FromDollars(10)));
            Assert.That(unsettled, Has.Count.EqualTo(1), "an ordinary pending reservation, which an operator can see");
            Assert.That(settled.Settled, Is.EqualTo(Usd.FromDollars(7)));
            Assert.That(settled.Reserved, Is.EqualTo(Usd.Zero));
            Assert.That(again, Is.EqualTo(settled), "a reservation settles once");
            Assert.That(host.Audit.Records.Select(r => r.Settlement), Is.EqualTo(new[] { "deferred", null, null }));
            Assert.That(host.Audit.Records[1].Message, Does.Contain("settled deferred reservation"));
        });
    }

    [Test]
    public async Task A_report_without_a_price_releases_and_one_for_an_unknown_object_changes_nothing()
    {
        await using var host = GuardHost.Start();
        host.Vendor.RespondNext(HttpStatusCode.OK, """{"deferred_id":"obj_2"}""");
        using (await host.SpendAsync(1000))
        {
        }

        using var client = host.Client();
        host.Vendor.RespondNext(HttpStatusCode.OK, """{"priced_id":"obj_unknown","price_cents":500}""");
        using (await client.GetAsync("/v1/things/obj_unknown"))
        {
        }

        var unchanged = await host.TodayAsync();
        host.Vendor.RespondNext(HttpStatusCode.OK, """{"priced_id":"obj_2"}""");
        using (await client.GetAsync("/v1/things/obj_2"))
        {
        }

        var released = await host.TodayAsync();
        Assert.Multiple(() =>
        {
            Assert.That(unchanged.Reserved, Is.EqualTo(Usd.FromDollars(10)));
            Assert.That(unchanged.Settled, Is.EqualTo(Usd.Zero));
            Assert.That(released.Reserved + released.Settled, Is.EqualTo(Usd.Zero));
        });
    }
}
