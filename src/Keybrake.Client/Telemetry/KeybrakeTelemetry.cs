using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Keybrake.Client;

/// <summary>The one <see cref="ActivitySource"/> and <see cref="Meter"/> name Keybrake uses: <c>Keybrake.Client</c>.</summary>
public static class KeybrakeTelemetry
{
    /// <summary>The name of Keybrake's activity source and meter; subscribe to it in OpenTelemetry.</summary>
    public const string Name = "Keybrake.Client";

    internal static readonly ActivitySource ActivitySource = new(Name, typeof(KeybrakeTelemetry).Assembly.GetName().Version?.ToString());
}

/// <summary>Keybrake's instruments, created from the host's <see cref="IMeterFactory"/>.</summary>
internal sealed class KeybrakeMetrics
{
    public KeybrakeMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(KeybrakeTelemetry.Name);
        Decisions = meter.CreateCounter<long>(
            "keybrake.guard.decisions",
            unit: "{call}",
            description: "Guarded calls by vendor, decision (allow or deny) and reason.");
        SettledMicroUsd = meter.CreateCounter<long>(
            "keybrake.spend.settled",
            unit: "{micro_usd}",
            description: "What guarded calls really cost once settled, in micro-USD.");
        ReservedMicroUsd = meter.CreateCounter<long>(
            "keybrake.spend.reserved",
            unit: "{micro_usd}",
            description: "What the guard reserved before forwarding calls that cost money, in micro-USD.");
        OverrunMicroUsd = meter.CreateCounter<long>(
            "keybrake.spend.overrun",
            unit: "{micro_usd}",
            description: "How far settlements pushed settled spend past a cap (a price above its estimate), in micro-USD, by vendor, key and scope (day or run).");
    }

    public Counter<long> Decisions { get; }

    public Counter<long> SettledMicroUsd { get; }

    public Counter<long> ReservedMicroUsd { get; }

    public Counter<long> OverrunMicroUsd { get; }
}
