using System.Diagnostics.Metrics;

namespace Keybrake.BudgetService.Telemetry;

/// <summary>The budget service's instruments, on its one meter <c>Keybrake.BudgetService</c>, from the host's <see cref="IMeterFactory"/>.</summary>
internal sealed class BudgetServiceMetrics
{
    /// <summary>The name of the service's meter; subscribe to it in OpenTelemetry.</summary>
    public const string MeterName = "Keybrake.BudgetService";

    public BudgetServiceMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        OverrunMicroUsd = meter.CreateCounter<long>(
            "keybrake.spend.overrun",
            unit: "{micro_usd}",
            description: "How far settlements pushed settled spend past a cap (a price above its estimate), in micro-USD, by vendor, key and scope (daily or run).");
    }

    public Counter<long> OverrunMicroUsd { get; }
}
