using Keybrake.BudgetService.Keys;
using Keybrake.BudgetService.Store;
using Microsoft.Extensions.Options;

namespace Keybrake.BudgetService.Alerts;

/// <summary>
/// Turns signals into alerts, off the calls' path: a key's day (in the key's time zone, as the books count it) or a
/// run crossing a threshold of its cap (spend = settled + reserved, what the cap counts), a revocation or restoration,
/// and bursts of denials. Every alert is fired through the store, which keeps it to once per dedupe key.
/// </summary>
internal sealed class AlertEvaluator : BackgroundService
{
    private readonly AlertSignals _signals;
    private readonly AlertFiring _firing;
    private readonly KeyRegistry _keys;
    private readonly IBudgetStore _store;
    private readonly AlertOptions _options;
    private readonly ILogger<AlertEvaluator> _logger;

    // Denials per key and reason in the current window; only this loop touches it.
    private readonly Dictionary<(string KeyId, string Reason), (long Window, int Count)> _denials = [];

    public AlertEvaluator(AlertSignals signals, AlertFiring firing, KeyRegistry keys, IBudgetStore store, IOptions<AlertOptions> options, ILogger<AlertEvaluator> logger)
    {
        _signals = signals;
        _firing = firing;
        _keys = keys;
        _store = store;
        _options = options.Value;
        _logger = logger;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await foreach (var signal in _signals.Reader.ReadAllAsync(stoppingToken))
            {
                try
                {
                    await EvaluateAsync(signal, stoppingToken);
                }
                catch (Exception exception) when (exception is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
                {
                    AlertLog.EvaluationFailed(_logger, exception);
                }

                if (_signals.TakeDropped() is > 0 and var dropped)
                {
                    AlertLog.SignalsDropped(_logger, dropped);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // stopping
        }
    }

    /// <summary>Evaluates one signal (the tests call it directly too).</summary>
    internal Task EvaluateAsync(AlertSignal signal, CancellationToken cancellationToken) => signal switch
    {
        SpendSignal spend => SpendAsync(spend, cancellationToken),
        KeyRevocationSignal revocation => RevocationAsync(revocation, cancellationToken),
        DenialSignal denial => DenialAsync(denial, cancellationToken),
        _ => Task.CompletedTask,
    };

    private async Task SpendAsync(SpendSignal signal, CancellationToken cancellationToken)
    {
        if (_keys.Find(signal.KeyId) is not { } key)
        {
            return;
        }

        var thresholds = _options.ThresholdsFor(key.Id);
        var day = DayWindow.DayOf(signal.At, key.Policy.TimeZone).ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);
        var dailyCap = key.Policy.DailyCap.Micros;
        if (dailyCap > 0 && Pending(key.Id, "day", day, thresholds) is { Count: > 0 })
        {
            var spent = signal.DaySpentMicroUsd ?? Spent(await _store.GetDaySpendAsync(key.Id, DateOnly.ParseExact(day, "yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture), cancellationToken));
            await CrossedAsync(key, "daily", "day", day, spent, dailyCap, thresholds, cancellationToken);
        }

        if (signal.RunId is { } runId && key.Policy.RunCap is { Micros: > 0 } runCap && Pending(key.Id, "run", runId, thresholds) is { Count: > 0 })
        {
            var spent = signal.RunSpentMicroUsd ?? Spent(await _store.GetRunSpendAsync(key.Id, runId, cancellationToken));
            await CrossedAsync(key, "run", "run", runId, spent, runCap.Micros, thresholds, cancellationToken);
        }
    }

    private static long Spent(StoredSpend spend) => spend.SettledMicroUsd + spend.ReservedMicroUsd;

    /// <summary>The thresholds not yet seen fired for this window.</summary>
    private List<int> Pending(string keyId, string kind, string window, IReadOnlyList<int> thresholds) =>
        [.. thresholds.Where(threshold => !_firing.Seen(ThresholdKey(keyId, kind, window, threshold)))];

    private static string ThresholdKey(string keyId, string kind, string window, int threshold) => $"threshold|{keyId}|{kind}|{window}|{threshold}";

    private async Task CrossedAsync(ServiceKey key, string scope, string kind, string window, long spent, long cap, IReadOnlyList<int> thresholds, CancellationToken cancellationToken)
    {
        foreach (var threshold in thresholds)
        {
            // spent / cap >= threshold %, in integers (and wide enough for any cap).
            if ((Int128)spent * 100 < (Int128)threshold * cap)
            {
                break;
            }

            var what = scope == "daily" ? $"the daily cap of key '{key.Id}' on {window}" : $"the run cap of key '{key.Id}' for run '{window}'";
            var message = $"{threshold}% of {what} is spent: {AlertPayloads.Money(spent)} of {AlertPayloads.Money(cap)}";
            await _firing.FireAsync(
                new AlertDraft(ThresholdKey(key.Id, kind, window, threshold), AlertTypes.Threshold, key.Id, scope, window, threshold, message,
                    new Dictionary<string, object?>
                    {
                        ["key_id"] = key.Id,
                        ["vendor"] = key.Vendor,
                        ["scope"] = scope,
                        ["day"] = scope == "daily" ? window : null,
                        ["run_id"] = scope == "run" ? window : null,
                        ["time_zone"] = scope == "daily" ? key.Policy.TimeZone.Id : null,
                        ["threshold_percent"] = threshold,
                        ["spent_micro_usd"] = spent,
                        ["cap_micro_usd"] = cap,
                    }),
                cancellationToken);
        }
    }

    private async Task RevocationAsync(KeyRevocationSignal signal, CancellationToken cancellationToken)
    {
        var type = signal.Revoked ? AlertTypes.KeyRevoked : AlertTypes.KeyRestored;
        var message = signal.Revoked ? $"key '{signal.KeyId}' was revoked by an operator" : $"key '{signal.KeyId}' was restored by an operator";
        var at = signal.At.ToUnixTimeMilliseconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
        await _firing.FireAsync(
            new AlertDraft($"{type}|{signal.KeyId}|{at}", type, signal.KeyId, null, null, null, message,
                new Dictionary<string, object?> { ["key_id"] = signal.KeyId, ["vendor"] = _keys.Find(signal.KeyId)?.Vendor }),
            cancellationToken);
    }

    /// <summary>
    /// Counts denials in fixed windows of <see cref="AlertOptions.BurstWindow"/> by the audit records' own times, so that
    /// replicas agree on the window an alert belongs to; the store keeps it to one alert per key, reason and window.
    /// </summary>
    private async Task DenialAsync(DenialSignal signal, CancellationToken cancellationToken)
    {
        var windowTicks = _options.BurstWindow.Ticks;
        var window = signal.At.UtcTicks / windowTicks;
        var slot = (signal.KeyId, signal.Reason);
        var count = _denials.TryGetValue(slot, out var current) && current.Window == window ? current.Count + 1 : 1;
        _denials[slot] = (window, count);
        if (_denials.Count > 10_000)
        {
            // Old windows of quiet keys: forgetting them loses only counts that can no longer reach a burst.
            foreach (var stale in _denials.Where(pair => pair.Value.Window < window).Select(pair => pair.Key).ToList())
            {
                _denials.Remove(stale);
            }
        }

        if (count != _options.BurstCount)
        {
            return;
        }

        var start = new DateTimeOffset(window * windowTicks, TimeSpan.Zero);
        var message = $"{count} calls of key '{signal.KeyId}' were denied {signal.Reason} within {_options.BurstWindow} (from {start:HH:mm:ss} UTC)";
        await _firing.FireAsync(
            new AlertDraft($"{AlertTypes.DenialBurst}|{signal.KeyId}|{signal.Reason}|{start.ToUnixTimeMilliseconds()}", AlertTypes.DenialBurst, signal.KeyId,
                null, start.ToString("O", System.Globalization.CultureInfo.InvariantCulture), null, message,
                new Dictionary<string, object?>
                {
                    ["key_id"] = signal.KeyId,
                    ["vendor"] = _keys.Find(signal.KeyId)?.Vendor,
                    ["reason"] = signal.Reason,
                    ["count"] = count,
                    ["window_seconds"] = (long)_options.BurstWindow.TotalSeconds,
                    ["window_start"] = start.ToString("O", System.Globalization.CultureInfo.InvariantCulture),
                }),
            cancellationToken);
    }
}
