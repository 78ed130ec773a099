using Keybrake.BudgetService.Keys;
using Keybrake.BudgetService.Store;
using Microsoft.Extensions.Options;

namespace Keybrake.BudgetService.Alerts;

/// <summary>
/// Turns signals into alerts, off the calls' path: a key's day (in the key's time zone, as the books count it) or a
/// run crossing a threshold of its cap (spend = settled + reserved, what the cap counts; for a key whose run cap includes
/// LLM spend, plus the run's reported LLM total, as Authorize counts it), a revocation or restoration, and bursts of
/// denials. Every alert is fired through the store, which keeps it to once per dedupe key.
/// </summary>
internal sealed class AlertEvaluator : BackgroundService
{
    private readonly AlertSignals _signals;
    private readonly AlertFiring _firing;
    private readonly KeyRegistry _keys;
    private readonly IBudgetStore _store;
    private readonly ILlmSpendStore _llm;
    private readonly IAdminQueries _queries;
    private readonly AlertOptions _options;
    private readonly ILogger<AlertEvaluator> _logger;

    // Denials per key and reason in the current window; only this loop touches it.
    private readonly Dictionary<(string KeyId, string Reason), (long Window, int Count)> _denials = [];

    public AlertEvaluator(AlertSignals signals, AlertFiring firing, KeyRegistry keys, IBudgetStore store, ILlmSpendStore llm, IAdminQueries queries,
        IOptions<AlertOptions> options, ILogger<AlertEvaluator> logger)
    {
        _signals = signals;
        _firing = firing;
        _keys = keys;
        _store = store;
        _llm = llm;
        _queries = queries;
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
        LlmSpendSignal llm => LlmSpendAsync(llm, cancellationToken),
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
            await CrossedAsync(key, "daily", "day", day, spent, null, dailyCap, thresholds, cancellationToken);
        }

        if (signal.RunId is { } runId && key.Policy.RunCap is { Micros: > 0 } runCap && Pending(key.Id, "run", runId, thresholds) is { Count: > 0 })
        {
            var spent = signal.RunSpentMicroUsd ?? Spent(await _store.GetRunSpendAsync(key.Id, runId, cancellationToken));
            long? llm = key.Policy.RunCapIncludesLlm ? await LlmSpentAsync(runId, cancellationToken) : null;
            await CrossedAsync(key, "run", "run", runId, spent + (llm ?? 0), llm, runCap.Micros, thresholds, cancellationToken);
        }
    }

    /// <summary>
    /// LLM spend alone moved a run: each key whose run cap includes it and that has a counter in the run (it reserved in
    /// the run at least once) is evaluated with its own run spend plus the run's new LLM total. A key with no call in the
    /// run is left out: its first call there is evaluated (or denied and audited) like any other.
    /// </summary>
    private async Task LlmSpendAsync(LlmSpendSignal signal, CancellationToken cancellationToken)
    {
        var candidates = _keys.All
            .Where(key => key.Policy.RunCapIncludesLlm && key.Policy.RunCap is { Micros: > 0 } && Pending(key.Id, "run", signal.RunId, _options.ThresholdsFor(key.Id)) is { Count: > 0 })
            .ToDictionary(key => key.Id, StringComparer.Ordinal);
        if (candidates.Count == 0)
        {
            return;
        }

        var counters = await _queries.ListCountersAsync(new SpendFilter(candidates.Keys, signal.RunId, null, null), byRun: true, cancellationToken);
        if (counters.Count == 0)
        {
            return;
        }

        var llm = await LlmSpentAsync(signal.RunId, cancellationToken);
        foreach (var counter in counters)
        {
            if (candidates.TryGetValue(counter.KeyId, out var key) && key.Policy.RunCap is { } runCap)
            {
                var spent = counter.SettledMicroUsd + counter.ReservedMicroUsd + llm;
                await CrossedAsync(key, "run", "run", signal.RunId, spent, llm, runCap.Micros, _options.ThresholdsFor(key.Id), cancellationToken);
            }
        }
    }

    /// <summary>The run's reported LLM total: the store read of the same row Authorize counts (llm_run_total).</summary>
    private async Task<long> LlmSpentAsync(string runId, CancellationToken cancellationToken) =>
        (await _llm.GetLlmRunTotalAsync(runId, cancellationToken))?.CostMicroUsd ?? 0;

    private static long Spent(StoredSpend spend) => spend.SettledMicroUsd + spend.ReservedMicroUsd;

    /// <summary>The thresholds not yet seen fired for this window.</summary>
    private List<int> Pending(string keyId, string kind, string window, IReadOnlyList<int> thresholds) =>
        [.. thresholds.Where(threshold => !_firing.Seen(ThresholdKey(keyId, kind, window, threshold)))];

    private static string ThresholdKey(string keyId, string kind, string window, int threshold) => $"threshold|{keyId}|{kind}|{window}|{threshold}";

    // llm: the run's LLM spend counted in spent, for a key whose run cap includes it (null otherwise); the message names it.
    private async Task CrossedAsync(ServiceKey key, string scope, string kind, string window, long spent, long? llm, long cap, IReadOnlyList<int> thresholds, CancellationToken cancellationToken)
    {
        foreach (var threshold in thresholds)
        {
            // spent / cap >= threshold %, in integers (and wide enough for any cap).
            if ((Int128)spent * 100 < (Int128)threshold * cap)
            {
                break;
            }

            var what = scope == "daily" ? $"the daily cap of key '{key.Id}' on {window}" : $"the run cap of key '{key.Id}' for run '{window}'";
            var message = $"{threshold}% of {what} is spent: {AlertPayloads.Money(spent)} of {AlertPayloads.Money(cap)}"
                + (llm is { } tokens ? $", {AlertPayloads.Money(tokens)} of it LLM tokens" : string.Empty);
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
                        ["llm_spent_micro_usd"] = llm,
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
