using Keybrake.BudgetService.Hosting;
using Microsoft.Extensions.Options;

namespace Keybrake.BudgetService.Telemetry;

/// <summary>Checks <c>BudgetService:Telemetry</c> at start-up: one failure, one line, per problem.</summary>
internal sealed class TelemetryOptionsValidator : IValidateOptions<BudgetServiceOptions>
{
    private const string Section = $"{BudgetServiceOptions.SectionName}:Telemetry";

    /// <summary>As long as the admin token must be: a scrape token is guessed no more easily.</summary>
    public const int MinimumScrapeTokenLength = 16;

    public ValidateOptionsResult Validate(string? name, BudgetServiceOptions options)
    {
        var telemetry = options.Telemetry;
        var failures = new List<string>();
        if (telemetry.ExportsOtlp && OtlpUri(telemetry.OtlpEndpoint) is null)
        {
            failures.Add($"{Section}:OtlpEndpoint '{telemetry.OtlpEndpoint}' is not an http:// or https:// address (write http://host:4317 for OTLP over gRPC)");
        }

        if (telemetry.OtlpProtocol is not (BudgetServiceTelemetryOptions.Grpc or BudgetServiceTelemetryOptions.HttpProtobuf))
        {
            failures.Add($"{Section}:OtlpProtocol '{telemetry.OtlpProtocol}' is not a protocol: use {BudgetServiceTelemetryOptions.Grpc} or {BudgetServiceTelemetryOptions.HttpProtobuf}");
        }

        if (telemetry.ScrapeToken is { } token && token.Length > 0 && token.Trim().Length < MinimumScrapeTokenLength)
        {
            failures.Add($"{Section}:ScrapeToken is too short: use at least {MinimumScrapeTokenLength} characters (or leave it empty to scrape with the admin token)");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    /// <summary>The endpoint as an address the exporter takes, or <see langword="null"/>.</summary>
    public static Uri? OtlpUri(string? endpoint) =>
        Uri.TryCreate(endpoint?.Trim(), UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps) ? uri : null;
}
