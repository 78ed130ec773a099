using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Keybrake.Client.Twilio;

/// <summary>
/// Central mode: every tick, the guard claims (or renews) the key's reconciliation duty at the budget service. The one
/// holder lists the key's messages still waiting for their price there (whichever process sent them) and fetches each
/// due one; the others only renew their claim attempt, and take over once the holder's claim expires (it stopped, or
/// died). When the service cannot be asked, nobody here polls: a holder that cannot renew may already be replaced.
/// </summary>
internal sealed partial class TwilioPriceReconciler
{
    /// <summary>The duty claimed at the budget service, per key.</summary>
    public const string Duty = "twilio-price-reconciliation";

    /// <summary>How many of a key's deferred messages are listed per tick.</summary>
    private const int ListLimit = 500;

    private readonly Dictionary<string, bool> _holding = new(StringComparer.Ordinal);
    private readonly Dictionary<(string KeyId, string Sid), Attempts> _attempts = [];
    private Task? _electionLoop;
    private bool _shutdownMade;

    /// <summary>Whether deferred messages are kept at the budget service (central mode).</summary>
    private bool IsShared => _services.GetRequiredService<KeybrakeDeferredObjects>().IsShared;

    /// <summary>Whether this guard holds the key's reconciliation duty (as of its last claim).</summary>
    internal bool Holds(string keyId)
    {
        lock (_gate)
        {
            return _holding.GetValueOrDefault(keyId);
        }
    }

    /// <summary>Starts the election in central mode, once the guard is in use; in embedded mode checks start with the first message.</summary>
    internal void Start()
    {
        if (!_settings.Enabled)
        {
            return;
        }

        lock (_gate)
        {
            if (!_stopping.IsCancellationRequested)
            {
                _electionLoop ??= Task.Run(() => RunElectedAsync(_stopping.Token));
            }
        }
    }

    private async Task RunElectedAsync(CancellationToken stopping)
    {
        KeybrakeDeferredObjects deferred;
        try
        {
            // Resolved on the loop, not in Start: the options' validation needs the vendor profiles, whose construction starts this.
            deferred = _services.GetRequiredService<KeybrakeDeferredObjects>();
            if (!deferred.IsShared)
            {
                return; // embedded: each process checks what it sent (Track)
            }
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            // Invalid options stop the application where they are read on the request path; here nothing polls.
            LogElectionFailed(_logger, "(any)", exception.Message);
            return;
        }

        var keys = _services.GetRequiredService<IOptionsMonitor<KeybrakeOptions>>();
        using var timer = new PeriodicTimer(TickOf(_settings), _time);
        try
        {
            do
            {
                try
                {
                    foreach (var (keyId, key) in keys.CurrentValue.Keys)
                    {
                        if (string.Equals(key?.Vendor, TwilioVendorProfile.VendorName, StringComparison.OrdinalIgnoreCase))
                        {
                            await ReconcileKeyAsync(deferred, keyId, key!.BrakeKey, stopping).ConfigureAwait(false);
                        }
                    }
                }
                catch (Exception exception) when (exception is not OperationCanceledException || !stopping.IsCancellationRequested)
                {
                    // Nothing ends the loop but the guard's disposal: a reloaded configuration that does not validate, say.
                    LogElectionFailed(_logger, "(any)", exception.Message);
                }
            }
            while (await timer.WaitForNextTickAsync(stopping).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // shutting down: the duties are given up below
        }
        finally
        {
            await ReleaseAllAsync(deferred).ConfigureAwait(false);
        }
    }

    /// <summary>Stops the election and gives up the duties held (the loop's last act), while the budget service client still works.</summary>
    internal async ValueTask StopElectionAsync()
    {
        try
        {
            lock (_gate)
            {
                // Canceled under the lock Start takes: no loop starts after this.
                _stopping.Cancel();
            }
        }
        catch (ObjectDisposedException)
        {
            return; // the reconciler itself was disposed first: its loop has stopped
        }

        if (_electionLoop is { } election)
        {
            await election.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    private async Task ReconcileKeyAsync(KeybrakeDeferredObjects deferred, string keyId, string? brakeKey, CancellationToken stopping)
    {
        var claimed = _time.GetTimestamp();
        var asked = await ClaimAsync(deferred, keyId, stopping).ConfigureAwait(false);
        EnsureStoppedBeforeTheClient();
        if (!asked || string.IsNullOrEmpty(brakeKey))
        {
            return;
        }

        IReadOnlyList<DeferredObject> open;
        try
        {
            open = await deferred.ListOpenAsync(keyId, TwilioVendorProfile.VendorName, _settings.Delay, ListLimit, stopping).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is not OperationCanceledException || !stopping.IsCancellationRequested)
        {
            LogElectionFailed(_logger, keyId, exception.Message);
            return;
        }

        ForgetSettled(keyId, open);
        foreach (var item in open)
        {
            // A long list outlasts a check interval: the claim is renewed as it goes, and the work stops if it was lost.
            if (_time.GetElapsedTime(claimed) >= TickOf(_settings))
            {
                claimed = _time.GetTimestamp();
                if (!await ClaimAsync(deferred, keyId, stopping).ConfigureAwait(false))
                {
                    return;
                }
            }

            await CheckDeferredAsync(keyId, brakeKey, item, stopping).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Once a claim has been asked, the budget service client exists: the shutdown object made now is disposed before it
    /// (<see cref="TwilioReconcilerShutdown"/>).
    /// </summary>
    private void EnsureStoppedBeforeTheClient()
    {
        if (Volatile.Read(ref _shutdownMade))
        {
            return;
        }

        try
        {
            _services.GetRequiredService<TwilioReconcilerShutdown>();
            Volatile.Write(ref _shutdownMade, true);
        }
        catch (ObjectDisposedException)
        {
            // the container is stopping: the loop is being stopped too
        }
    }

    /// <summary>Claims or renews the key's duty; <see langword="false"/> when another process holds it, or the service cannot say.</summary>
    private async Task<bool> ClaimAsync(KeybrakeDeferredObjects deferred, string keyId, CancellationToken stopping)
    {
        bool granted;
        try
        {
            granted = await deferred.TryClaimAsync(keyId, Duty, _settings.ElectionTtl, stopping).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is not OperationCanceledException || !stopping.IsCancellationRequested)
        {
            LogElectionFailed(_logger, keyId, exception.Message);
            granted = false; // not knowing is not holding: another process may hold it by now
        }

        Elected(keyId, deferred.Holder, granted);
        return granted;
    }

    /// <summary>Logs the changes of this guard's role for the key: won, lost to another holder, handed over.</summary>
    private void Elected(string keyId, string holder, bool granted)
    {
        bool? before;
        lock (_gate)
        {
            before = _holding.TryGetValue(keyId, out var held) ? held : null;
            _holding[keyId] = granted;
        }

        if (granted && before != true)
        {
            LogElectionWon(_logger, keyId, holder);
        }
        else if (!granted && before == true)
        {
            LogElectionHandedOver(_logger, keyId, holder);
        }
        else if (!granted && before is null)
        {
            LogElectionLost(_logger, keyId);
        }
    }

    private async Task CheckDeferredAsync(string keyId, string brakeKey, DeferredObject item, CancellationToken stopping)
    {
        var now = _time.GetUtcNow();
        Attempts attempts;
        lock (_gate)
        {
            attempts = _attempts.GetValueOrDefault((keyId, item.ObjectId));
            if (attempts.GaveUp || attempts.NextDue > now || (attempts.Count == 0 && _attempts.Count >= MaxTracked))
            {
                return;
            }
        }

        if (!TwilioRefetch.TryParse(item.Refetch, item.ObjectId, out var username, out var fetch))
        {
            LogNoRefetch(_logger, keyId, item.ObjectId);
            Record(keyId, item.ObjectId, attempts with { GaveUp = true });
            return;
        }

        var outcome = FetchOutcome.Unpriced;
        try
        {
            outcome = await FetchAsync(username, brakeKey, fetch, stopping).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is not OperationCanceledException || !stopping.IsCancellationRequested)
        {
            LogCheckFailed(_logger, keyId, exception);
        }

        // Priced: the guard has reported it to the service, which settles it; it is not listed again once that arrived.
        var count = attempts.Count + 1;
        var gaveUp = outcome == FetchOutcome.Missing || (outcome == FetchOutcome.Unpriced && count >= _settings.MaxAttempts);
        if (gaveUp)
        {
            LogGaveUp(_logger, keyId, count);
        }

        Record(keyId, item.ObjectId, new Attempts(count, _time.GetUtcNow() + _settings.Delay, gaveUp));
    }

    private void Record(string keyId, string sid, Attempts attempts)
    {
        lock (_gate)
        {
            _attempts[(keyId, sid)] = attempts;
        }
    }

    /// <summary>Forgets the attempts of the key's messages no longer waiting at the service (settled, or resolved by an operator).</summary>
    private void ForgetSettled(string keyId, IReadOnlyList<DeferredObject> open)
    {
        if (open.Count >= ListLimit)
        {
            return; // a partial list says nothing of the rest
        }

        var listed = open.Select(item => item.ObjectId).ToHashSet(StringComparer.Ordinal);
        lock (_gate)
        {
            foreach (var entry in _attempts.Keys.Where(entry => entry.KeyId == keyId && !listed.Contains(entry.Sid)).ToList())
            {
                _attempts.Remove(entry);
            }
        }
    }

    /// <summary>Gives up the duties held, so another process takes over at once rather than after the TTL.</summary>
    private async Task ReleaseAllAsync(KeybrakeDeferredObjects deferred)
    {
        List<string> held;
        lock (_gate)
        {
            held = [.. _holding.Where(entry => entry.Value).Select(entry => entry.Key)];
            _holding.Clear();
        }

        foreach (var keyId in held)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2), _time);
            try
            {
                await deferred.ReleaseAsync(keyId, Duty, timeout.Token).ConfigureAwait(false);
                LogElectionHandedOver(_logger, keyId, deferred.Holder);
            }
            catch (Exception exception)
            {
                // The budget service client stopped first: it gives the duty up itself as it stops (or the claim expires).
                LogReleaseLeftToLedger(_logger, keyId, exception.Message);
            }
        }
    }

    [LoggerMessage(230, LogLevel.Information, "Keybrake reconciles the prices of key '{KeyId}''s Twilio messages in this process ({Holder}): elected through the budget service")]
    private static partial void LogElectionWon(ILogger logger, string keyId, string holder);

    [LoggerMessage(231, LogLevel.Information, "Another process reconciles the prices of key '{KeyId}''s Twilio messages; this one does not poll Twilio and takes over if that one stops")]
    private static partial void LogElectionLost(ILogger logger, string keyId);

    [LoggerMessage(232, LogLevel.Information, "This process ({Holder}) no longer reconciles the prices of key '{KeyId}''s Twilio messages: it handed the duty over")]
    private static partial void LogElectionHandedOver(ILogger logger, string keyId, string holder);

    [LoggerMessage(233, LogLevel.Warning, "Keybrake could not ask the budget service about reconciling key '{KeyId}''s Twilio prices ({Problem}); this process does not poll until it can")]
    private static partial void LogElectionFailed(ILogger logger, string keyId, string problem);

    [LoggerMessage(234, LogLevel.Warning, "The deferred Twilio object '{ObjectId}' of key '{KeyId}' has no resource this process can fetch; its estimate stays counted until an operator resolves it")]
    private static partial void LogNoRefetch(ILogger logger, string keyId, string objectId);

    [LoggerMessage(235, LogLevel.Debug, "The reconciliation of key '{KeyId}''s Twilio prices is given up by the budget service client as it stops ({Problem})")]
    private static partial void LogReleaseLeftToLedger(ILogger logger, string keyId, string problem);

    /// <summary>The checks of one deferred message by this holder.</summary>
    private readonly record struct Attempts(int Count, DateTimeOffset NextDue, bool GaveUp);
}
