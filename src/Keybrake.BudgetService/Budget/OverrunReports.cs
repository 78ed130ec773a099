using Keybrake.BudgetService.Keys;
using Keybrake.BudgetService.Store;
using Keybrake.BudgetService.Telemetry;

namespace Keybrake.BudgetService.Budget;

/// <summary>
/// Makes an overrun loud: a settlement that took settled spend past a cap is logged as a warning and counted on
/// <c>keybrake.spend.overrun</c>; the store has recorded it with the counter for the admin API and the CLI.
/// </summary>
internal sealed class OverrunReports
{
    private readonly KeyRegistry _keys;
    private readonly BudgetServiceMetrics _metrics;
    private readonly ILogger<OverrunReports> _logger;

    public OverrunReports(KeyRegistry keys, BudgetServiceMetrics metrics, ILogger<OverrunReports> logger)
    {
        _keys = keys;
        _metrics = metrics;
        _logger = logger;
    }

    /// <summary>The caps of a key's policy now, for the store to hold commits and record overruns against.</summary>
    public KeyCaps? CapsOf(string keyId) =>
        _keys.Find(keyId)?.Policy is { } policy ? new KeyCaps(policy.DailyCap.Micros, policy.RunCap?.Micros) : null;

    /// <summary>Counts what a settlement committed on <c>keybrake.spend.settled</c>: the actual cost, once the counters moved.</summary>
    public void CountSettled(SettleCommand command, SettleResult result)
    {
        if (command.Commit && result.Status == SettleStatus.Settled && result.KeyId is not null)
        {
            _metrics.SettledMicroUsd.Add(command.ActualMicroUsd, new KeyValuePair<string, object?>("key", result.KeyId));
        }
    }

    public void Report(SettleResult result)
    {
        foreach (var overrun in result.Overruns ?? [])
        {
            var vendor = _keys.Find(overrun.KeyId)?.Vendor ?? "unknown";
            Log.OverCap(_logger, overrun.KeyId, vendor, overrun.Scope, overrun.CapMicroUsd, overrun.Window, overrun.SettledMicroUsd, overrun.OverrunMicroUsd);
            _metrics.OverrunMicroUsd.Add(
                overrun.AddedMicroUsd,
                new KeyValuePair<string, object?>("vendor", vendor),
                new KeyValuePair<string, object?>("key", overrun.KeyId),
                new KeyValuePair<string, object?>("scope", overrun.Scope));
        }
    }
}
