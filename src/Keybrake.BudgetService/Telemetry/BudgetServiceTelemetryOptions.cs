namespace Keybrake.BudgetService.Telemetry;

/// <summary>Where the service's traces and metrics go (<c>BudgetService:Telemetry</c>): see docs/budget-service.md, "Telemetry".</summary>
public sealed class BudgetServiceTelemetryOptions
{
    /// <summary>The OTLP protocol for gRPC (the default): the collector's endpoint, such as <c>http://127.0.0.1:4317</c>.</summary>
    public const string Grpc = "grpc";

    /// <summary>The OTLP protocol over HTTP: the collector's base address, such as <c>http://127.0.0.1:4318</c> (the signal paths are added).</summary>
    public const string HttpProtobuf = "http/protobuf";

    /// <summary>The OpenTelemetry collector traces and metrics are exported to; empty (the default): no OTLP export.</summary>
    public string? OtlpEndpoint { get; set; }

    /// <summary><c>grpc</c> (the default) or <c>http/protobuf</c>.</summary>
    public string OtlpProtocol { get; set; } = Grpc;

    /// <summary>
    /// A bearer token, at least 16 characters, that may read <c>/metrics</c> and nothing else, for a Prometheus server
    /// that should not hold the admin token. Empty: <c>/metrics</c> takes the admin token only. Never logged.
    /// </summary>
    public string? ScrapeToken { get; set; }

    /// <summary>Whether an OTLP endpoint is configured.</summary>
    internal bool ExportsOtlp => !string.IsNullOrWhiteSpace(OtlpEndpoint);
}
