using System.Collections.Concurrent;
using Keybrake.BudgetService.Keys;
using Keybrake.BudgetService.Store;
using Keybrake.Protocol;

namespace Keybrake.BudgetService.Leases;

/// <summary>
/// Tells the processes on the key event stream, on every replica, that leases were recalled (LEASES_RECALLED) or came
/// back (LEASE_RETURNED); and marks the leases of a process whose stream ended as stranded, so that any replica reports them.
/// </summary>
internal sealed class LeaseEvents
{
    private static readonly TimeSpan s_recallGap = TimeSpan.FromMilliseconds(250);

    private readonly KeyEventHub _hub;
    private readonly KeyRegistry _keys;
    private readonly ILeaseEventRelay _relay;
    private readonly IBudgetStore _store;
    private readonly TimeProvider _time;
    private readonly ILogger<LeaseEvents> _logger;
    private readonly ConcurrentDictionary<(string Key, string Run), long> _lastRecall = new();

    public LeaseEvents(KeyEventHub hub, KeyRegistry keys, ILeaseEventRelay relay, IBudgetStore store, TimeProvider time, ILogger<LeaseEvents> logger)
    {
        _hub = hub;
        _keys = keys;
        _relay = relay;
        _store = store;
        _time = time;
        _logger = logger;
        hub.StreamEnded += subscription => _ = MarkHolderGoneAsync(subscription.Id);
    }

    /// <summary>LEASE_RETURNED once per key and run among <paramref name="ended"/>, here and on the other replicas.</summary>
    public async Task ReturnedAsync(IReadOnlyList<EndedLease> ended, string how, CancellationToken cancellationToken)
    {
        if (ended.Count == 0)
        {
            return;
        }

        LeaseLog.Ended(_logger, ended.Count, how, ended.Sum(lease => lease.FreedMicroUsd));
        foreach (var (key, run) in ended.Select(lease => (lease.KeyId, lease.RunId ?? string.Empty)).Distinct())
        {
            await PublishAsync(KeyEventKind.LeaseReturned, key, run, cancellationToken);
        }
    }

    /// <summary>
    /// Voids every active lease a revoked credential took, on whatever key: they stop counting as reserved at once, and
    /// LEASE_RETURNED tells the processes of every replica that were denied while they held budget to ask again (the
    /// credential's own processes dropped them on CLIENT_REVOKED). Returns how many it voided.
    /// </summary>
    public async Task<int> VoidCredentialLeasesAsync(string clientId, CancellationToken cancellationToken)
    {
        var voided = await _store.VoidClientLeasesAsync(clientId, _time.GetUtcNow(), cancellationToken);
        if (voided.Count > 0)
        {
            LeaseLog.CredentialLeasesVoided(_logger, voided.Count, clientId, voided.Sum(lease => lease.FreedMicroUsd));
        }

        await ReturnedAsync(voided, "voided", cancellationToken);
        return voided.Count;
    }

    /// <summary>LEASES_RECALLED for the key's leases (of <paramref name="runId"/> only, when set), at most once per 250 ms per key and run.</summary>
    public async Task RecallAsync(string keyId, string runId, CancellationToken cancellationToken)
    {
        var now = _time.GetTimestamp();
        var last = _lastRecall.GetValueOrDefault((keyId, runId));
        if (last != 0 && _time.GetElapsedTime(last, now) < s_recallGap)
        {
            return; // one recall is on its way already
        }

        _lastRecall[(keyId, runId)] = now;
        LeaseLog.Recalled(_logger, keyId, runId);
        await PublishAsync(KeyEventKind.LeasesRecalled, keyId, runId, cancellationToken);
    }

    /// <summary>An event another replica published: to this replica's streams only.</summary>
    public void Heard(KeyEventKind kind, string keyId, string runId) => Local(kind, keyId, runId);

    private async Task PublishAsync(KeyEventKind kind, string keyId, string runId, CancellationToken cancellationToken)
    {
        Local(kind, keyId, runId);
        try
        {
            await _relay.RelayAsync(kind, keyId, runId, cancellationToken);
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            LeaseLog.RelayFailed(_logger, keyId, exception.Message);
        }
    }

    /// <summary>The key's state as last announced rides along unchanged: a process applying the event's key sees nothing new.</summary>
    private void Local(KeyEventKind kind, string keyId, string runId)
    {
        var watched = new WatchedKey { KeyId = keyId, Known = true };
        if (_hub.Announced(keyId) is { } announced)
        {
            (watched.Known, watched.Revoked, watched.PolicyVersion, watched.SecretVersion) = announced;
        }
        else if (_keys.Find(keyId) is { } key)
        {
            (watched.PolicyVersion, watched.SecretVersion) = (key.PolicyVersion, key.SecretVersion);
        }

        _hub.Notify(new KeyEvent { Kind = kind, RunId = runId, Keys = { watched } });
    }

    private async Task MarkHolderGoneAsync(string subscriberId)
    {
        try
        {
            await _store.MarkHolderGoneAsync(subscriberId, gone: true, _time.GetUtcNow(), CancellationToken.None);
        }
        catch (Exception exception) when (exception is ObjectDisposedException or OperationCanceledException)
        {
            // The store is closing with the service (its streams end too): the lease still ends at its TTL.
        }
        catch (Exception exception)
        {
            LeaseLog.StrandedMarkFailed(_logger, exception.Message);
        }
    }
}

/// <summary>Carries lease events to the other replicas' streams (PostgreSQL); nothing to do for a single process.</summary>
internal interface ILeaseEventRelay
{
    Task RelayAsync(KeyEventKind kind, string keyId, string runId, CancellationToken cancellationToken);
}

/// <summary>A single process: its own streams are all the streams.</summary>
internal sealed class NoLeaseRelay : ILeaseEventRelay
{
    public Task RelayAsync(KeyEventKind kind, string keyId, string runId, CancellationToken cancellationToken) => Task.CompletedTask;
}
