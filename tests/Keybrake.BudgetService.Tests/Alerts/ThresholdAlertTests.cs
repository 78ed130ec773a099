using Keybrake.Client.TestUtilities;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Protocol;
using Microsoft.Extensions.Time.Testing;
using static Keybrake.BudgetService.Tests.Calls;

namespace Keybrake.BudgetService.Tests.Alerts;

/// <summary>Budget alerts through the real service to a webhook receiver on loopback; runs on both store engines.</summary>
[TestFixture(StoreEngine.Sqlite)]
[TestFixture(StoreEngine.PostgreSql)]
public sealed class ThresholdAlertTests(StoreEngine engine)
{
    [Test]
    public async Task Each_threshold_of_a_day_and_of_a_run_fires_once_and_every_post_is_signed()
    {
        using var receiver = new WebhookReceiver();
        await using var service = await TestService.StartAsync(engine, TestService.Settings(
            BudgetServiceHost.Key("agent", "100"), BudgetServiceHost.Key("runner", "1000", runCap: "10"), receiver.Webhook()));

        // The day of "agent": 40%, 55% (50 fires), 85% (80 fires), 95% (nothing new), 100% (100 fires).
        foreach (var dollars in new[] { 40m, 15m, 30m, 10m, 5m })
        {
            Assert.That((await service.Budget.AuthorizeAsync(Authorize("agent", dollars))).Allowed, Is.True);
        }

        // A run of "runner": 60% (50 fires), then 90% (80 fires); its day stays under 1%.
        await service.Budget.AuthorizeAsync(Authorize("runner", 6, runId: "run-1"));
        await service.Budget.AuthorizeAsync(Authorize("runner", 3, runId: "run-1"));

        // Delivered is recorded after the receiver answered: wait for the books, then read the receiver.
        var listed = await Poll.UntilAsync(
            async () => await service.Admin.ListAlertsAsync(new ListAlertsRequest()),
            reply => reply.Alerts.Count >= 5 && reply.Alerts.SelectMany(alert => alert.Deliveries).All(delivery => delivery.State == "delivered"));
        var received = receiver.Received();
        Assert.Multiple(() =>
        {
            Assert.That(received.Select(post => (post.Json.GetProperty("key_id").GetString(), post.Json.GetProperty("scope").GetString(), post.Threshold)),
                Is.EquivalentTo(new[]
                {
                    ("agent", "daily", 50), ("agent", "daily", 80), ("agent", "daily", 100),
                    ("runner", "run", 50), ("runner", "run", 80),
                }.Select(expected => (expected.Item1, expected.Item2, (int?)expected.Item3))));
            Assert.That(received, Has.All.Matches<ReceivedAlert>(post => post.SignatureVerifies()), "hex HMAC-SHA256 of {timestamp}.{body}");
            Assert.That(received.Any(post => post.SignatureVerifies("another-secret-0123456789")), Is.False);
            Assert.That(received.Select(post => post.AlertId).Distinct().Count(), Is.EqualTo(5));
            Assert.That(received.Select(post => post.Timestamp), Has.All.EqualTo(new DateTimeOffset(2026, 3, 10, 12, 0, 0, TimeSpan.Zero).ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture)));
            var day80 = received.Single(post => post.Threshold == 80 && post.Json.GetProperty("scope").GetString() == "daily").Json;
            Assert.That(day80.GetProperty("type").GetString(), Is.EqualTo("budget.threshold"));
            Assert.That(day80.GetProperty("day").GetString(), Is.EqualTo("2026-03-10"));
            Assert.That(day80.GetProperty("spent_micro_usd").GetInt64(), Is.EqualTo(Dollars(85)));
            Assert.That(day80.GetProperty("cap_micro_usd").GetInt64(), Is.EqualTo(Dollars(100)));
            Assert.That(day80.GetProperty("message").GetString(), Is.EqualTo("80% of the daily cap of key 'agent' on 2026-03-10 is spent: $85.00 of $100.00"));
            Assert.That(listed.Alerts, Has.Count.EqualTo(5));
            Assert.That(listed.Alerts.SelectMany(alert => alert.Deliveries).Select(delivery => (delivery.Webhook, delivery.State, delivery.Attempts)),
                Has.All.EqualTo(("ops", "delivered", 1)));
        });
    }

    [Test]
    public async Task Configured_thresholds_replace_the_defaults_and_a_key_may_have_its_own()
    {
        using var receiver = new WebhookReceiver();
        await using var service = await TestService.StartAsync(engine, TestService.Settings(
            BudgetServiceHost.Key("agent", "100"), BudgetServiceHost.Key("quiet", "100"), receiver.Webhook(),
            new Dictionary<string, string?> { ["BudgetService:Alerts:Thresholds:0"] = "25", ["BudgetService:Alerts:KeyThresholds:quiet:0"] = "90" }));

        await service.Budget.AuthorizeAsync(Authorize("quiet", 50));
        await service.Budget.AuthorizeAsync(Authorize("agent", 60));
        await service.Budget.AuthorizeAsync(Authorize("quiet", 45));

        // The store lists alerts in the order the evaluator fired them: once quiet's 90% is there, every call before it was evaluated.
        var listed = await Poll.UntilAsync(
            async () => (await service.Admin.ListAlertsAsync(new ListAlertsRequest())).Alerts,
            alerts => alerts.Any(alert => alert.KeyId == "quiet"));
        Assert.That(listed.Select(alert => (alert.KeyId, alert.ThresholdPercent)), Is.EquivalentTo(new[] { ("agent", 25), ("quiet", 90) }));
    }

    [Test]
    public async Task A_price_settled_above_its_estimate_that_takes_the_day_past_a_threshold_fires_it()
    {
        using var receiver = new WebhookReceiver();
        await using var service = await TestService.StartAsync(engine, TestService.Settings(BudgetServiceHost.Key("agent", "100"), receiver.Webhook()));
        var reserved = await service.Budget.AuthorizeAsync(Authorize("agent", 45));

        await service.SettleAsync(Commit(reserved.ReservationId, 55));

        var post = (await Poll.UntilAsync(() => receiver.Received(), posts => posts.Count >= 1)).Single();
        Assert.Multiple(() =>
        {
            Assert.That(post.Threshold, Is.EqualTo(50));
            Assert.That(post.Json.GetProperty("spent_micro_usd").GetInt64(), Is.EqualTo(Dollars(55)), "settled spend, read after the commit");
        });
    }

    [Test]
    public async Task A_key_revoked_and_restored_does_not_fire_its_thresholds_again_even_after_a_restart_and_the_restore_is_no_budget_alert()
    {
        using var receiver = new WebhookReceiver();
        var settings = TestService.Settings(
            BudgetServiceHost.Key("agent", "100"),
            receiver.Webhook("ops", "/hook", null, "budget.threshold"),
            receiver.Webhook("events", "/events", null, "key.revoked", "key.restored"));
        await using var first = await TestService.StartAsync(engine, settings);
        await first.Budget.AuthorizeAsync(Authorize("agent", 60));
        await Poll.UntilAsync(() => receiver.Received(), posts => posts.Count >= 1);

        await first.Admin.RevokeKeyAsync(new KeyActionRequest { KeyId = "agent" });
        await first.Admin.RestoreKeyAsync(new KeyActionRequest { KeyId = "agent" });
        await first.Budget.AuthorizeAsync(Authorize("agent", 5));
        var events = await Poll.UntilAsync(() => receiver.Received("/events"), posts => posts.Count >= 2);

        // A new service on the same books: nothing in its memory says 50% fired; the store does.
        await first.StopAsync();
        await using var second = await TestService.StartAsync(engine, settings, postgres: first.Postgres, directory: first.Host.Directory);
        await second.Budget.AuthorizeAsync(Authorize("agent", 1));
        await second.Budget.AuthorizeAsync(Authorize("agent", 20));
        var thresholds = await Poll.UntilAsync(() => receiver.Received(), posts => posts.Count >= 2);
        var listed = await second.Admin.ListAlertsAsync(new ListAlertsRequest());

        Assert.Multiple(() =>
        {
            Assert.That(thresholds.Select(post => post.Threshold), Is.EqualTo(new int?[] { 50, 80 }), "50% once, before the revocation; 80% once, after");
            Assert.That(events.Select(post => post.Type), Is.EquivalentTo(new[] { "key.revoked", "key.restored" }));
            Assert.That(events, Has.All.Matches<ReceivedAlert>(post => post.SignatureVerifies()));
            Assert.That(listed.Alerts.Where(alert => alert.Type == "budget.threshold").Select(alert => alert.ThresholdPercent), Is.EquivalentTo(new[] { 50, 80 }));
            Assert.That(listed.Alerts.Single(alert => alert.Type == "key.restored").Deliveries.Select(delivery => delivery.Webhook), Is.EqualTo(new[] { "events" }),
                "the restoration goes only to the webhook that takes it");
        });
    }

    [Test]
    public async Task A_delivery_the_receiver_answers_500_is_retried_with_its_attempts_recorded_and_delivered_once_the_receiver_recovers()
    {
        using var receiver = new WebhookReceiver(status: 500);
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 3, 10, 12, 0, 0, TimeSpan.Zero));
        await using var service = await TestService.StartAsync(engine, TestService.Settings(BudgetServiceHost.Key("agent", "100"), receiver.Webhook()), time);
        await service.Budget.AuthorizeAsync(Authorize("agent", 50));

        var failing = await Poll.UntilAsync(() => UndeliveredAsync(service), alerts => alerts.Count == 1 && alerts[0].Deliveries[0].Attempts >= 1);
        receiver.Answer(200);

        // The retry is due 0.5 to 1 second (the first backoff, with jitter) after the failure, by the service's clock.
        var delivered = await Poll.UntilAsync(
            async () =>
            {
                time.Advance(TimeSpan.FromMilliseconds(250));
                return (await service.Admin.ListAlertsAsync(new ListAlertsRequest())).Alerts;
            },
            alerts => alerts.Single().Deliveries[0].State == "delivered");
        var posts = receiver.Received();

        Assert.Multiple(() =>
        {
            var first = failing.Single().Deliveries.Single();
            Assert.That((first.State, first.Attempts, first.LastError), Is.EqualTo(("pending", 1, "HTTP 500")));
            Assert.That(DateTimeOffset.Parse(first.NextAttemptAt, System.Globalization.CultureInfo.InvariantCulture),
                Is.InRange(new DateTimeOffset(2026, 3, 10, 12, 0, 0, 500, TimeSpan.Zero), new DateTimeOffset(2026, 3, 10, 12, 0, 1, TimeSpan.Zero)));
            var last = delivered.Single().Deliveries.Single();
            Assert.That((last.State, last.Attempts, last.LastError), Is.EqualTo(("delivered", 2, "HTTP 500")), "the last error stays recorded");
            Assert.That(posts, Has.Count.EqualTo(2));
            Assert.That(posts.Select(post => (post.AlertId, post.Body)).Distinct().Count(), Is.EqualTo(1), "the same alert, the same body");
            Assert.That(posts, Has.All.Matches<ReceivedAlert>(post => post.SignatureVerifies()));
        });
    }

    [Test]
    public async Task A_slack_webhook_gets_text_and_a_section_block_signed_like_any_other()
    {
        using var receiver = new WebhookReceiver();
        await using var service = await TestService.StartAsync(engine, TestService.Settings(BudgetServiceHost.Key("agent", "100"), receiver.Webhook(format: "slack")));
        await service.Budget.AuthorizeAsync(Authorize("agent", 50));

        var post = (await Poll.UntilAsync(() => receiver.Received(), posts => posts.Count >= 1)).Single();

        Assert.Multiple(() =>
        {
            Assert.That(post.Json.GetProperty("text").GetString(), Is.EqualTo("50% of the daily cap of key 'agent' on 2026-03-10 is spent: $50.00 of $100.00"));
            var block = post.Json.GetProperty("blocks")[0];
            Assert.That(block.GetProperty("type").GetString(), Is.EqualTo("section"));
            Assert.That(block.GetProperty("text").GetProperty("type").GetString(), Is.EqualTo("mrkdwn"));
            Assert.That(block.GetProperty("text").GetProperty("text").GetString(), Does.Contain("50% of the daily cap of key 'agent'"));
            Assert.That(post.Json.TryGetProperty("type", out _), Is.False, "Slack's shape, not the json payload");
            Assert.That(post.SignatureVerifies(), Is.True);
        });
    }

    [Test]
    public async Task A_burst_of_loop_denials_fires_once_per_window()
    {
        using var receiver = new WebhookReceiver();
        await using var service = await TestService.StartAsync(engine, TestService.Settings(
            BudgetServiceHost.Key("agent", "100"), receiver.Webhook(), new Dictionary<string, string?> { ["BudgetService:Alerts:BurstCount"] = "3" }));
        var minute = new DateTimeOffset(2026, 3, 10, 11, 59, 0, TimeSpan.Zero).ToUnixTimeMilliseconds() * 1000;

        // Five loop denials and two rate-limit denials in one minute, then three loop denials in the next minute.
        var records = Enumerable.Range(0, 5).Select(i => Denial($"loop-{i}", "loop_detected", minute + (i * 1_000_000)))
            .Concat(Enumerable.Range(0, 2).Select(i => Denial($"rate-{i}", "rate_limited", minute + (i * 1_000_000))))
            .Concat(Enumerable.Range(0, 3).Select(i => Denial($"next-{i}", "loop_detected", minute + 60_000_000 + (i * 1_000_000))));
        await AuditIntakeTests.SubmitAsync(service, [.. records]);

        var posts = await Poll.UntilAsync(() => receiver.Received(), received => received.Count >= 2);
        Assert.Multiple(() =>
        {
            Assert.That(posts.Select(post => (post.Type, post.Json.GetProperty("reason").GetString(), post.Json.GetProperty("window_start").GetString())), Is.EquivalentTo(new[]
            {
                ("denials.burst", "loop_detected", "2026-03-10T11:59:00.0000000+00:00"),
                ("denials.burst", "loop_detected", "2026-03-10T12:00:00.0000000+00:00"),
            }));
            Assert.That(posts.Select(post => post.Json.GetProperty("count").GetInt32()), Has.All.EqualTo(3));
        });
    }

    [Test]
    public async Task Test_fire_posts_a_test_alert_to_each_webhook_now_and_reports_each_result()
    {
        using var good = new WebhookReceiver();
        using var broken = new WebhookReceiver(status: 503);
        await using var service = await TestService.StartAsync(engine, TestService.Settings(
            BudgetServiceHost.Key("agent", "100"), good.Webhook("good"), broken.Webhook("broken")));

        var all = await service.Admin.TestFireAlertAsync(new TestFireAlertRequest());
        var one = await service.Admin.TestFireAlertAsync(new TestFireAlertRequest { Webhook = "good" });
        var unknown = Assert.ThrowsAsync<Grpc.Core.RpcException>(async () => await service.Admin.TestFireAlertAsync(new TestFireAlertRequest { Webhook = "nope" }));
        var listed = await service.Admin.ListAlertsAsync(new ListAlertsRequest());

        Assert.Multiple(() =>
        {
            Assert.That(all.Results.Select(result => (result.Webhook, result.Delivered, result.StatusCode, result.Error)),
                Is.EqualTo(new[] { ("broken", false, 503, "HTTP 503"), ("good", true, 200, "") }));
            Assert.That(one.Results.Select(result => result.Webhook), Is.EqualTo(new[] { "good" }));
            Assert.That(good.Received().Select(post => post.Type), Is.EqualTo(new[] { "alert.test", "alert.test" }));
            Assert.That(good.Received(), Has.All.Matches<ReceivedAlert>(post => post.SignatureVerifies()));
            Assert.That(unknown!.StatusCode, Is.EqualTo(Grpc.Core.StatusCode.NotFound));
            Assert.That(listed.Alerts, Is.Empty, "a test alert is not stored");
        });
    }

    private static async Task<IReadOnlyList<AlertInfo>> UndeliveredAsync(TestService service) =>
        (await service.Admin.ListAlertsAsync(new ListAlertsRequest { UndeliveredOnly = true })).Alerts;

    private static AuditRecord Denial(string recordId, string reason, long timestampUnixMicros)
    {
        var record = AuditIntakeTests.Record(recordId);
        record.Decision = "deny";
        record.Reason = reason;
        record.TimestampUnixMicros = timestampUnixMicros;
        return record;
    }
}
