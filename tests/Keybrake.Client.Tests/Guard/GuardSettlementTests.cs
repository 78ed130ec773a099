using System.Net;

namespace Keybrake.Client.Tests;

public sealed class GuardSettlementTests
{
    [Test]
    public async Task A_2xx_commits_what_the_vendor_says_the_call_cost()
    {
        await using var host = GuardHost.Start();
        host.Vendor.RespondNext(HttpStatusCode.OK, """{"amount_cents":900}""");

        using var response = await host.SpendAsync(1000);

        var spend = await host.TodayAsync();
        Assert.Multiple(() =>
        {
            Assert.That(spend.Settled, Is.EqualTo(Usd.FromDollars(9)));
            Assert.That(spend.Reserved, Is.EqualTo(Usd.Zero));
            Assert.That(host.Audit.Records.Single().Settlement, Is.EqualTo("commit"));
        });
    }

    [TestCase(HttpStatusCode.PaymentRequired)]
    [TestCase(HttpStatusCode.BadRequest)]
    [TestCase(HttpStatusCode.NotFound)]
    public async Task A_4xx_releases_the_reservation(HttpStatusCode status)
    {
        await using var host = GuardHost.Start();
        host.Vendor.RespondNext(status, """{"error":"declined"}""");

        using var response = await host.SpendAsync(1000);

        var spend = await host.TodayAsync();
        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(status), "the vendor's own error reaches the caller");
            Assert.That(response.Headers.Contains(KeybrakeHeaders.Decision), Is.False);
            Assert.That(spend.Committed, Is.EqualTo(Usd.Zero));
            Assert.That(host.Audit.Records.Single().Settlement, Is.EqualTo("release"));
        });
    }

    [Test]
    public async Task A_500_holds_the_reservation_as_spent_and_lists_it_as_unsettled()
    {
        await using var host = GuardHost.Start();
        host.Vendor.RespondNext(HttpStatusCode.InternalServerError);

        using var response = await host.SpendAsync(1000, idempotencyKey: "idem-500");

        var spend = await host.TodayAsync();
        var unsettled = await host.Admin.ListUnsettledAsync(GuardHost.KeyId);
        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.InternalServerError));
            Assert.That(spend.Reserved, Is.EqualTo(Usd.FromDollars(10)));
            Assert.That(unsettled.Single().IdempotencyKey, Is.EqualTo("idem-500"));
            Assert.That(host.Audit.Records.Single().Settlement, Is.EqualTo("hold"));
        });
    }

    [Test]
    public async Task A_retry_with_the_same_idempotency_key_after_a_500_settles_the_held_reservation_once()
    {
        await using var host = GuardHost.Start();
        host.Vendor.RespondNext(HttpStatusCode.InternalServerError);

        using var failed = await host.SpendAsync(1000, idempotencyKey: "idem-retry");
        using var retried = await host.SpendAsync(1000, idempotencyKey: "idem-retry");
        using var replayed = await host.SpendAsync(1000, idempotencyKey: "idem-retry");

        var spend = await host.TodayAsync();
        var records = host.Audit.Records;
        Assert.Multiple(() =>
        {
            Assert.That(spend.Settled, Is.EqualTo(Usd.FromDollars(10)));
            Assert.That(spend.Reserved, Is.EqualTo(Usd.Zero));
            Assert.That(records.Select(r => r.Settlement), Is.EqualTo(new[] { "hold", "commit", "replay" }));
            Assert.That(records[1].ReservationId, Is.EqualTo(records[0].ReservationId), "the retry settles the held reservation");
            Assert.That(records[2].ReservationId, Is.Null, "the replay of a settled call reserves nothing");
            Assert.That(records.Select(r => r.IdempotencyKey), Is.All.EqualTo("idem-retry"), "the idempotency key links all three");
        });
    }

    [Test]
    public async Task An_exception_from_the_vendor_call_holds_the_reservation_and_is_rethrown()
    {
        await using var host = GuardHost.Start();
        var broken = new HttpRequestException("connection reset");
        host.Vendor.ThrowNext(broken);

        var thrown = Assert.ThrowsAsync<HttpRequestException>(async () => await host.SpendAsync(1000, idempotencyKey: "idem-broken"));

        var unsettled = await host.Admin.ListUnsettledAsync(GuardHost.KeyId);
        var spend = await host.TodayAsync();
        var record = host.Audit.Records.Single();
        Assert.Multiple(() =>
        {
            Assert.That(thrown, Is.SameAs(broken));
            Assert.That(unsettled.Single().Estimate, Is.EqualTo(Usd.FromDollars(10)));
            Assert.That(spend.Reserved, Is.EqualTo(Usd.FromDollars(10)));
            Assert.That(record.Decision, Is.EqualTo("allow"));
            Assert.That(record.Settlement, Is.EqualTo("hold"));
            Assert.That(record.HttpStatus, Is.Null);
            Assert.That(record.Message, Is.EqualTo(nameof(HttpRequestException)));
        });
    }

    [Test]
    public async Task A_caller_that_cancels_after_the_vendor_answered_still_gets_one_audit_record_for_the_call()
    {
        await using var host = GuardHost.Start();
        using var cancellation = new CancellationTokenSource();
        host.Vendor.AnswerNext(_ =>
        {
            cancellation.Cancel(); // the caller gives up just as the vendor's answer arrives
            var body = new MemoryStream("""{"amount_cents":1000}"""u8.ToArray());
            return new HttpResponseMessage(HttpStatusCode.OK) { Content = new StreamContent(body) }; // unbuffered, as from the network
        });
        using var client = host.Client();

        try
        {
            using var response = await client.SendAsync(GuardHost.SpendRequest(1000), cancellation.Token);
        }
        catch (OperationCanceledException)
        {
            // Giving up is the caller's right; the money has moved either way.
        }

        var spend = await host.TodayAsync();
        Assert.Multiple(() =>
        {
            Assert.That(host.Vendor.Received, Has.Count.EqualTo(1));
            Assert.That(host.Audit.Records, Has.Count.EqualTo(1), "one audit record either way");
            Assert.That(spend.Committed, Is.EqualTo(Usd.FromDollars(10)), "the call counts as spent");
        });
    }
}
