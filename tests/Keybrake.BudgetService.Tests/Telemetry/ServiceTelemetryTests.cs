using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Keybrake.Client.TestUtilities;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Client.TestUtilities.Telemetry;
using Keybrake.Protocol;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;
using static Keybrake.BudgetService.Tests.Calls;

namespace Keybrake.BudgetService.Tests.Telemetry;

/// <summary>
/// The service's spans and metrics, seen by OpenTelemetry's in-memory exporter added to the real service on Kestrel,
/// and its Prometheus scrape endpoint, which answers only the admin token or the scrape token.
/// </summary>
public sealed class ServiceTelemetryTests
{
    private const string ScrapeToken = "scrape-token-0123456789abcdef";

    [Test]
    public async Task An_authorize_makes_a_span_with_its_key_and_decision_and_counts_its_latency_and_decision()
    {
        var spans = new LockedCollection<Activity>();
        var metrics = new LockedCollection<MetricSnapshot>();
        await using var service = await TestService.StartAsync(
            BudgetServiceHost.Key("otel-agent", "100"),
            configure: builder => builder.Services
                .ConfigureOpenTelemetryTracerProvider(tracing => tracing.AddInMemoryExporter(spans))
                .ConfigureOpenTelemetryMeterProvider(meters => meters.AddInMemoryExporter(metrics)));

        var allowed = await service.Budget.AuthorizeAsync(Authorize("otel-agent", 60, runId: "run-7"));
        var denied = await service.Budget.AuthorizeAsync(Authorize("otel-agent", 50));
        await service.SettleAsync(Commit(allowed.ReservationId, 45));

        // The span ends before the reply is sent; waited for all the same, not assumed.
        var authorizeSpans = await Poll.UntilAsync(
            () => spans.Snapshot().Where(span => span.DisplayName == "Budget/Authorize" && (string?)span.GetTagItem("keybrake.key_id") == "otel-agent").ToList(),
            found => found.Count == 2);
        var exported = await CollectAsync(service, metrics, "keybrake.spend.settled");

        Assert.Multiple(() =>
        {
            Assert.That(denied.Allowed, Is.False);
            var (allow, deny) = (authorizeSpans[0], authorizeSpans[1]);
            Assert.That(allow.Source.Name, Is.EqualTo("Keybrake.BudgetService"));
            Assert.That(Tags(allow), Does.Contain(("keybrake.decision", "allow")).And.Contain(("keybrake.run_id", "run-7")).And.Contain(("rpc.method", "Authorize")).And.Contain(("rpc.grpc.status_code", "0")));
            Assert.That(Tags(deny), Does.Contain(("keybrake.decision", "deny")).And.Contain(("keybrake.reason", ReasonCodes.DailyCapExceeded)));

            // Nothing secret rides along: not the client's token, not the admin token.
            var everyTag = spans.Snapshot().SelectMany(Tags).Select(tag => tag.Value).ToList();
            Assert.That(everyTag, Has.None.Contains(BudgetServiceHost.ClientToken).And.None.Contains(BudgetServiceHost.AdminToken));

            var duration = Points(exported, "keybrake.authorize.duration");
            Assert.That(duration.Sum(point => point.GetHistogramCount()), Is.EqualTo(2));
            var decisions = Points(exported, "keybrake.authorize.decisions");
            Assert.That(decisions.Select(point => (Tag(point, "decision"), Tag(point, "reason"), point.GetSumLong())),
                Is.EquivalentTo(new[] { ("allow", "", 1L), ("deny", ReasonCodes.DailyCapExceeded, 1L) }));
            Assert.That(Points(exported, "keybrake.spend.reserved").Single().GetSumLong(), Is.EqualTo(Dollars(60)));
            Assert.That(Points(exported, "keybrake.spend.settled").Single().GetSumLong(), Is.EqualTo(Dollars(45)));
        });
    }

    [Test]
    public async Task The_outbox_backlog_a_client_reports_and_the_open_key_streams_are_gauges()
    {
        var metrics = new LockedCollection<MetricSnapshot>();
        await using var service = await TestService.StartAsync(
            BudgetServiceHost.Key("otel-agent", "100"),
            configure: builder => builder.Services.ConfigureOpenTelemetryMeterProvider(meters => meters.AddInMemoryExporter(metrics)));
        using var watch = service.Budget.WatchKeys(new WatchKeysRequest { KeyIds = { "otel-agent" } });
        Assert.That(await watch.ResponseStream.MoveNext(CancellationToken.None), Is.True); // the snapshot: the stream is open

        var audit = new SubmitAuditRequest { OutboxBacklog = 1234 };
        audit.Records.Add(new AuditRecord { RecordId = "rec_otel_1", KeyId = "otel-agent", Vendor = "stripe", Decision = "allow", TimestampUnixMicros = 1_773_144_000_000_000 });
        await service.Budget.SubmitAuditAsync(audit);

        var exported = await CollectAsync(service, metrics, "keybrake.outbox.backlog");
        Assert.Multiple(() =>
        {
            var backlog = Points(exported, "keybrake.outbox.backlog").Single();
            Assert.That((Tag(backlog, "client"), backlog.GetGaugeLastValueLong()), Is.EqualTo((BudgetServiceHost.ClientId, 1234L)));
            Assert.That(Points(exported, "keybrake.keys.watchers").Single().GetGaugeLastValueLong(), Is.EqualTo(1));
        });
    }

    [Test]
    public async Task Metrics_are_scraped_only_with_the_admin_token_or_the_scrape_token_which_opens_nothing_else()
    {
        await using var service = await TestService.StartAsync(TestService.Settings(
            BudgetServiceHost.Key("otel-agent", "100"),
            new Dictionary<string, string?> { ["BudgetService:Telemetry:ScrapeToken"] = ScrapeToken }));
        await service.Budget.AuthorizeAsync(Authorize("otel-agent", 10));
        using var http = new HttpClient { BaseAddress = service.Host.RestAddress };

        using var anonymous = await http.GetAsync("/metrics");
        using var wrong = await GetAsync(http, "/metrics", "not-the-scrape-token-at-all");
        using var scraped = await GetAsync(http, "/metrics", ScrapeToken);
        using var byAdmin = await GetAsync(http, "/metrics", BudgetServiceHost.AdminToken);
        using var keysWithScrapeToken = await GetAsync(http, "/v1/keys", ScrapeToken);

        var text = await scraped.Content.ReadAsStringAsync();
        Assert.Multiple(() =>
        {
            Assert.That(anonymous.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
            Assert.That(wrong.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
            Assert.That(scraped.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(byAdmin.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(keysWithScrapeToken.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
            Assert.That(text, Does.Contain("# TYPE keybrake_authorize_duration_seconds histogram"));
            Assert.That(text, Does.Match("keybrake_authorize_duration_seconds_count\\{[^}]*decision=\"allow\"[^}]*\\} 1"));
        });
    }

    [Test]
    public async Task Without_a_scrape_token_metrics_take_the_admin_token_only()
    {
        await using var service = await TestService.StartAsync(BudgetServiceHost.Key("otel-agent", "100"));
        using var http = new HttpClient { BaseAddress = service.Host.RestAddress };

        using var anonymous = await http.GetAsync("/metrics");
        using var empty = await GetAsync(http, "/metrics", string.Empty);
        using var byAdmin = await GetAsync(http, "/metrics", BudgetServiceHost.AdminToken);

        Assert.Multiple(() =>
        {
            Assert.That(anonymous.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
            Assert.That(empty.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
            Assert.That(byAdmin.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        });
    }

    [Test]
    public async Task With_an_otlp_endpoint_the_service_sends_its_spans_and_metrics_to_the_collector()
    {
        // A stand-in for an OpenTelemetry collector's OTLP/HTTP receiver.
        using var collector = WireMockServer.Start();
        collector.Given(Request.Create().UsingPost().WithPath("/v1/traces", "/v1/metrics")).RespondWith(Response.Create().WithStatusCode(200));
        await using var service = await TestService.StartAsync(TestService.Settings(
            BudgetServiceHost.Key("otel-agent", "100"),
            new Dictionary<string, string?>
            {
                ["BudgetService:Telemetry:OtlpEndpoint"] = collector.Url,
                ["BudgetService:Telemetry:OtlpProtocol"] = "http/protobuf",
            }));

        await service.Budget.AuthorizeAsync(Authorize("otel-agent", 10));
        service.Host.Services.GetRequiredService<TracerProvider>().ForceFlush();
        service.Host.Services.GetRequiredService<MeterProvider>().ForceFlush();

        // OTLP is protobuf, whose strings are plain UTF-8: the span's and the histogram's names are readable in the bodies.
        var received = await Poll.UntilAsync(
            () => collector.LogEntries.Select(entry => (entry.RequestMessage.Path, Body: Encoding.UTF8.GetString(entry.RequestMessage.BodyAsBytes ?? []))).ToList(),
            bodies => bodies.Any(b => b.Path == "/v1/traces" && b.Body.Contains("Budget/Authorize", StringComparison.Ordinal))
                && bodies.Any(b => b.Path == "/v1/metrics" && b.Body.Contains("keybrake.authorize.duration", StringComparison.Ordinal)));

        Assert.Multiple(() =>
        {
            Assert.That(received.Where(b => b.Path == "/v1/traces").Select(b => b.Body), Has.Some.Contains("Budget/Authorize"));
            Assert.That(received.Where(b => b.Path == "/v1/metrics").Select(b => b.Body), Has.Some.Contains("keybrake.authorize.duration"));
            Assert.That(received.Select(b => b.Body), Has.None.Contains(BudgetServiceHost.ClientToken));
        });
    }

    [TestCase("BudgetService:Telemetry:OtlpEndpoint", "collector:4317", "BudgetService:Telemetry:OtlpEndpoint 'collector:4317' is not an http:// or https:// address")]
    [TestCase("BudgetService:Telemetry:OtlpProtocol", "udp", "BudgetService:Telemetry:OtlpProtocol 'udp' is not a protocol")]
    [TestCase("BudgetService:Telemetry:ScrapeToken", "short", "BudgetService:Telemetry:ScrapeToken is too short")]
    public void A_bad_telemetry_setting_fails_start_up_with_a_line_naming_it(string setting, string value, string message)
    {
        var settings = TestService.Settings(BudgetServiceHost.Key("otel-agent", "100"), new Dictionary<string, string?> { [setting] = value });

        var failure = Assert.CatchAsync(async () => await BudgetServiceHost.StartAsync(settings));

        Assert.That(failure!.Message, Does.Contain(message));
    }

    /// <summary>
    /// Has the service's meter provider collect (the Prometheus reader answers ForceFlush with false: it only collects
    /// when scraped), until the in-memory exporter has <paramref name="instrument"/>.
    /// </summary>
    private static async Task<IReadOnlyList<MetricSnapshot>> CollectAsync(TestService service, LockedCollection<MetricSnapshot> metrics, string instrument) =>
        await Poll.UntilAsync(
            () =>
            {
                metrics.Clear();
                service.Host.Services.GetRequiredService<MeterProvider>().ForceFlush();
                return metrics.Snapshot();
            },
            exported => exported.Any(metric => metric.Name == instrument));

    private static async Task<HttpResponseMessage> GetAsync(HttpClient http, string path, string token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return await http.SendAsync(request);
    }

    private static IEnumerable<(string Key, string? Value)> Tags(Activity activity) =>
        activity.TagObjects.Select(tag => (tag.Key, tag.Value is null ? null : Convert.ToString(tag.Value, System.Globalization.CultureInfo.InvariantCulture)));

    private static List<MetricPoint> Points(IReadOnlyList<MetricSnapshot> exported, string name) =>
        [.. exported.Where(metric => metric.Name == name).SelectMany(metric => metric.MetricPoints)];

    private static string? Tag(MetricPoint point, string name)
    {
        foreach (var tag in point.Tags)
        {
            if (tag.Key == name)
            {
                return tag.Value?.ToString();
            }
        }

        return null;
    }
}
