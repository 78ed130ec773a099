using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Keybrake.Client.OpenTelemetry;

/// <summary>
/// Adds Keybrake's telemetry (<see cref="KeybrakeTelemetry.Name"/>: the <c>keybrake.guard</c> span of every guarded
/// call and the <c>keybrake.guard.decisions</c> and <c>keybrake.spend.*</c> counters, of the guard and of central mode)
/// to OpenTelemetry:
/// <code>
/// services.AddOpenTelemetry().AddKeybrakeInstrumentation().WithTracing(t => t.AddOtlpExporter()).WithMetrics(m => m.AddOtlpExporter());
/// </code>
/// </summary>
public static class KeybrakeInstrumentationExtensions
{
    /// <summary>Adds Keybrake's activity source to traces and its meter to metrics, whichever of the two the application turns on.</summary>
    /// <param name="builder">The builder of <c>services.AddOpenTelemetry()</c>.</param>
    /// <returns>The same builder, for chaining.</returns>
    public static TBuilder AddKeybrakeInstrumentation<TBuilder>(this TBuilder builder)
        where TBuilder : IOpenTelemetryBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);

        // Configured on the services rather than by WithTracing/WithMetrics (the SDK's): this package needs the API only,
        // and the sources apply once the application turns tracing or metrics on, in any order.
        builder.Services.ConfigureOpenTelemetryTracerProvider(tracing => tracing.AddSource(KeybrakeTelemetry.Name));
        builder.Services.ConfigureOpenTelemetryMeterProvider(metrics => metrics.AddMeter(KeybrakeTelemetry.Name));
        return builder;
    }

    /// <summary>Adds Keybrake's activity source (<c>keybrake.guard</c> spans) to a tracer provider.</summary>
    /// <param name="builder">The tracer provider's builder.</param>
    /// <returns>The same builder, for chaining.</returns>
    public static TracerProviderBuilder AddKeybrakeInstrumentation(this TracerProviderBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddSource(KeybrakeTelemetry.Name);
    }

    /// <summary>Adds Keybrake's meter (decisions and spend counters) to a meter provider.</summary>
    /// <param name="builder">The meter provider's builder.</param>
    /// <returns>The same builder, for chaining.</returns>
    public static MeterProviderBuilder AddKeybrakeInstrumentation(this MeterProviderBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddMeter(KeybrakeTelemetry.Name);
    }
}
