using System.Diagnostics;
using Keybrake.Client.OpenTelemetry;
using Keybrake.Client.TestUtilities.Stripe;
using Keybrake.Client.TestUtilities.Telemetry;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using Stripe;

namespace Keybrake.Client.Stripe.Tests;

/// <summary>
/// The README's one line, <c>AddKeybrakeInstrumentation()</c>, on an application's OpenTelemetry builder: a real
/// Stripe.net call through the guard to the stand-in shows up in OpenTelemetry's in-memory exporter as a
/// <c>keybrake.guard</c> span and on the guard's counters.
/// </summary>
public sealed class OpenTelemetrySetupTests
{
    private const string KeyId = "otel-refund-agent";

    [Test]
    public async Task One_line_adds_the_guard_spans_and_metrics_to_an_applications_OpenTelemetry()
    {
        using var stub = StripeStub.Start();
        var spans = new LockedCollection<Activity>();
        var metrics = new LockedCollection<MetricSnapshot>();
        var services = Services(stub);

        services.AddOpenTelemetry()
            .AddKeybrakeInstrumentation()
            .WithTracing(tracing => tracing.AddInMemoryExporter(spans))
            .WithMetrics(meters => meters.AddInMemoryExporter(metrics));

        await using var provider = services.BuildServiceProvider();
        _ = provider.GetRequiredService<TracerProvider>(); // a host starts them; this test has no host
        var meterProvider = provider.GetRequiredService<MeterProvider>();
        var stripe = provider.GetRequiredService<StripeClient>();
        await new ChargeService(stripe).CreateAsync(new ChargeCreateOptions { Amount = 1500, Currency = "usd", Customer = "cus_otel" });
        meterProvider.ForceFlush();

        var guardSpans = spans.Snapshot().Where(span => (string?)span.GetTagItem("keybrake.key_id") == KeyId).ToList();
        var decisions = metrics.Snapshot().Where(metric => metric.Name == "keybrake.guard.decisions").SelectMany(metric => metric.MetricPoints).ToList();
        var reserved = metrics.Snapshot().Where(metric => metric.Name == "keybrake.spend.reserved").SelectMany(metric => metric.MetricPoints).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(guardSpans.Select(span => (span.Source.Name, span.OperationName, (string?)span.GetTagItem("keybrake.decision"))),
                Is.EqualTo(new[] { (KeybrakeTelemetry.Name, "keybrake.guard", (string?)"allow") }));
            Assert.That(decisions.Sum(point => point.GetSumLong()), Is.EqualTo(1));
            Assert.That(reserved.Sum(point => point.GetSumLong()), Is.EqualTo(15_000_000));
        });
    }

    [Test]
    public async Task Without_the_line_the_application_exports_nothing_of_the_guard()
    {
        using var stub = StripeStub.Start();
        var spans = new LockedCollection<Activity>();
        var metrics = new LockedCollection<MetricSnapshot>();
        var services = Services(stub);
        services.AddOpenTelemetry()
            .WithTracing(tracing => tracing.AddInMemoryExporter(spans))
            .WithMetrics(meters => meters.AddInMemoryExporter(metrics));

        await using var provider = services.BuildServiceProvider();
        _ = provider.GetRequiredService<TracerProvider>();
        var meterProvider = provider.GetRequiredService<MeterProvider>();
        await new ChargeService(provider.GetRequiredService<StripeClient>()).CreateAsync(new ChargeCreateOptions { Amount = 1500, Currency = "usd", Customer = "cus_otel" });
        meterProvider.ForceFlush();

        Assert.Multiple(() =>
        {
            Assert.That(stub.Received, Has.Count.EqualTo(1), "the call went through");
            Assert.That(spans.Snapshot().Where(span => span.Source.Name == KeybrakeTelemetry.Name), Is.Empty);
            Assert.That(metrics.Snapshot().Where(metric => metric.MeterName == KeybrakeTelemetry.Name), Is.Empty);
        });
    }

    private static ServiceCollection Services(StripeStub stub)
    {
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?>
            {
                [$"Keybrake:Keys:{KeyId}:BrakeKey"] = "vault_key_otel_refund_agent_00000001",
                [$"Keybrake:Keys:{KeyId}:Vendor"] = "stripe",
                [$"Keybrake:Keys:{KeyId}:VendorSecret"] = "sk_test_otel_secret_never_exported",
                [$"Keybrake:Keys:{KeyId}:VendorEndpoint"] = stub.Url,
                [$"Keybrake:Keys:{KeyId}:Policy:DailyCap"] = "100.00",
            })
            .Build());
        services.AddKeybrake().AddStripeClient(o => { o.KeyId = KeyId; o.ApiBase = stub.Url; });
        return services;
    }
}
