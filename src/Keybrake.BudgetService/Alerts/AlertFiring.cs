namespace Keybrake.BudgetService.Alerts;

/// <summary>
/// Fires alerts: builds the payload, asks the store to insert it under its dedupe key (the store decides whether this
/// is the first), and wakes the sender when it was. Remembers what it saw fired, so that the evaluator does not ask the
/// store again for a threshold already behind a key.
/// </summary>
internal sealed class AlertFiring
{
    private const int RememberedLimit = 50_000;

    private readonly IAlertStore _store;
    private readonly AlertWebhooks _webhooks;
    private readonly IdGenerator _ids;
    private readonly TimeProvider _time;
    private readonly DeliveryWakeup _wakeup;
    private readonly ILogger<AlertFiring> _logger;

    // Only the evaluator's single loop fires alerts; the set is never shared between threads at once.
    private readonly HashSet<string> _seen = new(StringComparer.Ordinal);

    public AlertFiring(IAlertStore store, AlertWebhooks webhooks, IdGenerator ids, TimeProvider time, DeliveryWakeup wakeup, ILogger<AlertFiring> logger)
    {
        _store = store;
        _webhooks = webhooks;
        _ids = ids;
        _time = time;
        _wakeup = wakeup;
        _logger = logger;
    }

    /// <summary>Whether an alert of this dedupe key is known to exist already (fired here, or found fired by another process).</summary>
    public bool Seen(string dedupeKey) => _seen.Contains(dedupeKey);

    /// <summary>Fires the alert unless one of its dedupe key exists; <see langword="true"/> when this call fired it.</summary>
    public async Task<bool> FireAsync(AlertDraft draft, CancellationToken cancellationToken)
    {
        if (_seen.Contains(draft.DedupeKey))
        {
            return false;
        }

        var now = _time.GetUtcNow();
        var alertId = _ids.New("alt_");
        var payload = AlertPayloads.Json(alertId, draft.Type, now, draft.Message, draft.Fields);
        var alert = new StoredAlert(alertId, draft.DedupeKey, draft.Type, draft.KeyId, draft.Scope, draft.Window, draft.ThresholdPercent, draft.Message, payload, now);
        var fired = await _store.TryFireAsync(alert, _webhooks.For(draft.Type), cancellationToken);
        if (_seen.Count >= RememberedLimit)
        {
            // Forgetting only costs a store insert that finds the alert there.
            _seen.Clear();
        }

        _seen.Add(draft.DedupeKey);
        if (fired)
        {
            AlertLog.Fired(_logger, alertId, draft.Message);
            _wakeup.Wake();
        }

        return fired;
    }
}

/// <summary>An alert about to be fired: <see cref="DedupeKey"/> names what "once" means for it.</summary>
internal sealed record AlertDraft(
    string DedupeKey,
    string Type,
    string KeyId,
    string? Scope,
    string? Window,
    int? ThresholdPercent,
    string Message,
    IReadOnlyDictionary<string, object?> Fields);

/// <summary>Wakes the sender when an alert was fired, so that it does not wait for its next poll.</summary>
internal sealed class DeliveryWakeup
{
    private readonly System.Threading.Channels.Channel<bool> _channel =
        System.Threading.Channels.Channel.CreateBounded<bool>(new System.Threading.Channels.BoundedChannelOptions(1) { FullMode = System.Threading.Channels.BoundedChannelFullMode.DropWrite });

    public void Wake() => _channel.Writer.TryWrite(true);

    /// <summary>Waits for a wake-up or <paramref name="timeout"/>, whichever comes first.</summary>
    public async Task WaitAsync(TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        if (_channel.Reader.TryRead(out _))
        {
            return;
        }

        using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var delay = Task.Delay(timeout, time, wait.Token);
        var woken = _channel.Reader.WaitToReadAsync(wait.Token).AsTask();
        await Task.WhenAny(delay, woken);
        await wait.CancelAsync();
        _channel.Reader.TryRead(out _);
        cancellationToken.ThrowIfCancellationRequested();
    }
}
