using System.Diagnostics;
using System.Diagnostics.Metrics;
using Keybrake.BudgetService.Keys;

namespace Keybrake.BudgetService.Telemetry;

/// <summary>
/// The budget service's instruments, on its one meter <c>Keybrake.BudgetService</c>, from the host's
/// <see cref="IMeterFactory"/>; its spans come from <see cref="ActivitySource"/>, of the same name. Tags name keys,
/// clients, decisions and reasons: never a token, a brake key or a vendor secret.
/// </summary>
internal sealed class BudgetServiceMetrics
{
    /// <summary>The name of the service's meter and activity source; subscribe to it in OpenTelemetry.</summary>
    public const string MeterName = "Keybrake.BudgetService";

    /// <summary>The service's one activity source: a span per RPC (<see cref="RpcTelemetryInterceptor"/>).</summary>
    public static readonly ActivitySource ActivitySource = new(MeterName, typeof(BudgetServiceMetrics).Assembly.GetName().Version?.ToString());

    public BudgetServiceMetrics(IMeterFactory meterFactory, KeyEventHub events, OutboxBacklogs backlogs)
    {
        var meter = meterFactory.Create(MeterName);
        OverrunMicroUsd = meter.CreateCounter<long>(
            "keybrake.spend.overrun",
            unit: "{micro_usd}",
            description: "How far settlements pushed settled spend past a cap (a price above its estimate), in micro-USD, by vendor, key and scope (daily or run).");
        AuthorizeDuration = meter.CreateHistogram(
            "keybrake.authorize.duration",
            unit: "s",
            description: "How long the service took to answer Authorize, in seconds, by decision and reason.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5] });
        Decisions = meter.CreateCounter<long>(
            "keybrake.authorize.decisions",
            unit: "{call}",
            description: "Authorize answers by decision (allow or deny) and reason (empty when allowed).");
        ReservedMicroUsd = meter.CreateCounter<long>(
            "keybrake.spend.reserved",
            unit: "{micro_usd}",
            description: "What Authorize reserved against the caps (new reservations only, not replays), in micro-USD, by key.");
        SettledMicroUsd = meter.CreateCounter<long>(
            "keybrake.spend.settled",
            unit: "{micro_usd}",
            description: "What settlements committed (the actual cost), in micro-USD, by key.");
        meter.CreateObservableGauge(
            "keybrake.outbox.backlog",
            backlogs.Observe,
            unit: "{record}",
            description: "Audit records waiting in a client's outbox, as the client last reported with SubmitAudit, by client.");
        meter.CreateObservableGauge(
            "keybrake.keys.watchers",
            () => events.SubscriberCount,
            unit: "{stream}",
            description: "Open key event streams (WatchKeys): the processes that hear of a revocation at once.");
    }

    public Counter<long> OverrunMicroUsd { get; }

    public Histogram<double> AuthorizeDuration { get; }

    public Counter<long> Decisions { get; }

    public Counter<long> ReservedMicroUsd { get; }

    public Counter<long> SettledMicroUsd { get; }
}
