using Keybrake.BudgetService.Hosting;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Keybrake.BudgetService.Telemetry;

/// <summary>
/// OpenTelemetry for the service: its activity source and meter (<see cref="BudgetServiceMetrics.MeterName"/>) and
/// ASP.NET Core's HTTP spans, exported over OTLP when <c>BudgetService:Telemetry:OtlpEndpoint</c> is set, and metrics
/// scraped by Prometheus at <c>/metrics</c>, behind the admin token or the scrape token (<see cref="ScrapeToken"/>).
/// </summary>
internal static class ServiceTelemetry
{
    public const string ScrapePath = "/metrics";

    public static IServiceCollection AddServiceTelemetry(this IServiceCollection services, IConfiguration configuration)
    {
        services.TryAddSingleton<OutboxBacklogs>();
        services.TryAddSingleton<BudgetServiceMetrics>();
        services.TryAddSingleton<ScrapeToken>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<BudgetServiceOptions>, TelemetryOptionsValidator>());

        // The exporters are chosen now, from configuration; the validator refuses a bad endpoint at start-up, before
        // anything is exported, with a line that names it.
        var settings = configuration.GetSection($"{BudgetServiceOptions.SectionName}:Telemetry").Get<BudgetServiceTelemetryOptions>() ?? new BudgetServiceTelemetryOptions();
        var otlp = settings.ExportsOtlp ? TelemetryOptionsValidator.OtlpUri(settings.OtlpEndpoint) : null;
        var http = settings.OtlpProtocol == BudgetServiceTelemetryOptions.HttpProtobuf;
        services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService("keybrake-budget-service", serviceVersion: typeof(ServiceTelemetry).Assembly.GetName().Version?.ToString()))
            .WithTracing(tracing =>
            {
                tracing.AddSource(BudgetServiceMetrics.MeterName)
                    .AddAspNetCoreInstrumentation(aspNetCore => aspNetCore.Filter = http => !IsQuiet(http.Request.Path));
                if (otlp is not null)
                {
                    tracing.AddOtlpExporter(exporter => Otlp(exporter, otlp, http, "v1/traces"));
                }
            })
            .WithMetrics(metrics =>
            {
                metrics.AddMeter(BudgetServiceMetrics.MeterName).AddPrometheusExporter();
                if (otlp is not null)
                {
                    metrics.AddOtlpExporter(exporter => Otlp(exporter, otlp, http, "v1/metrics"));
                }
            });
        return services;
    }

    /// <summary>Maps <c>/metrics</c>; <see cref="Budget.AdminRestGate"/> lets through only the admin token or the scrape token.</summary>
    public static void MapMetricsEndpoint(this WebApplication app) =>
        app.MapPrometheusScrapingEndpoint(ScrapePath).WithMetadata(new ScrapeEndpoint());

    /// <summary>Probes and scrapes come every few seconds and say nothing about the service's work: no span for them.</summary>
    private static bool IsQuiet(PathString path) =>
        path.StartsWithSegments(ScrapePath) || path.StartsWithSegments(HealthEndpoints.LivePath) || path.StartsWithSegments(HealthEndpoints.ReadyPath);

    private static void Otlp(OtlpExporterOptions exporter, Uri endpoint, bool http, string signalPath)
    {
        exporter.Protocol = http ? OtlpExportProtocol.HttpProtobuf : OtlpExportProtocol.Grpc;

        // Over HTTP each signal has its own path under the collector's address; over gRPC the address is the endpoint.
        exporter.Endpoint = http ? new Uri(endpoint.AbsoluteUri.TrimEnd('/') + "/" + signalPath) : endpoint;
    }
}
