using Keybrake.BudgetService.Budget;
using Keybrake.BudgetService.Clients;
using Keybrake.BudgetService.Keys;
using Keybrake.BudgetService.Store;
using Keybrake.Protocol;

namespace Keybrake.BudgetService.Replicas;

/// <summary>
/// Applies here what another replica committed: it reads the key's or credential's current state back from the store
/// (a notification names what changed, never how), brings the in-memory registries up to it, and announces to this
/// replica's <c>WatchKeys</c> streams only what differs from what the hub last announced. So the replica that made
/// the change, which announced it already, does nothing twice; and a notification heard late or twice changes nothing.
/// Every step holds <see cref="KeyEventHub.Changes"/>, as the admin calls do around their writes.
/// </summary>
internal sealed class ReplicaChanges
{
    private readonly IKeyStore _keyStore;
    private readonly IBudgetStore _store;
    private readonly IClientStore _clientStore;
    private readonly KeyRegistry _keys;
    private readonly ClientRegistry _clients;
    private readonly KeyEventHub _hub;
    private readonly ILogger<ReplicaChanges> _logger;

    public ReplicaChanges(IKeyStore keyStore, IBudgetStore store, IClientStore clientStore, KeyRegistry keys, ClientRegistry clients, KeyEventHub hub, ILogger<ReplicaChanges> logger)
    {
        _keyStore = keyStore;
        _store = store;
        _clientStore = clientStore;
        _keys = keys;
        _clients = clients;
        _hub = hub;
        _logger = logger;
    }

    /// <summary>A key was created, revoked, restored, its policy changed or its vendor secret set or rotated somewhere.</summary>
    public async Task KeyChangedAsync(string keyId, CancellationToken cancellationToken)
    {
        var announced = new List<Announcement>();
        await _hub.Changes.WaitAsync(cancellationToken);
        try
        {
            // Both read at once, on two pooled connections: this is on the path of a revocation to the streams here.
            var finding = _keyStore.FindAsync(keyId, cancellationToken).AsTask();
            var reading = _store.GetRevokedAsync([keyId], cancellationToken).AsTask();
            await Task.WhenAll(finding, reading);
            if (await finding is { } stored)
            {
                Announce(stored, (await reading).Contains(keyId), announced);
            }
        }
        finally
        {
            _hub.Changes.Release();
        }

        Confirm(announced, cancellationToken);
    }

    /// <summary>A client credential was issued or revoked somewhere.</summary>
    public async Task ClientChangedAsync(string clientId, CancellationToken cancellationToken)
    {
        var announced = new List<Announcement>();
        await _hub.Changes.WaitAsync(cancellationToken);
        try
        {
            foreach (var stored in await _clientStore.ListAsync(cancellationToken))
            {
                if (stored.ClientId == clientId)
                {
                    Apply(stored, announced);
                }
            }
        }
        finally
        {
            _hub.Changes.Release();
        }

        Confirm(announced, cancellationToken);
    }

    /// <summary>
    /// Reads every key and credential back, as after a (re)connection of the notification channel, when changes may
    /// have gone unheard; returns how many keys and credentials it read.
    /// </summary>
    public async Task<(int Keys, int Clients)> ReadBackAsync(CancellationToken cancellationToken)
    {
        var announced = new List<Announcement>();
        (int, int) counts;
        await _hub.Changes.WaitAsync(cancellationToken);
        try
        {
            var keys = await _keyStore.ListAsync(cancellationToken);
            var revoked = await _store.GetRevokedAsync(keys.Select(key => key.KeyId).ToList(), cancellationToken);
            foreach (var stored in keys)
            {
                Announce(stored, revoked.Contains(stored.KeyId), announced);
            }

            var clients = await _clientStore.ListAsync(cancellationToken);
            foreach (var stored in clients)
            {
                Apply(stored, announced);
            }

            counts = (keys.Count, clients.Count);
        }
        finally
        {
            _hub.Changes.Release();
        }

        Confirm(announced, cancellationToken);
        return counts;
    }

    private void Announce(StoredKey stored, bool revoked, List<Announcement> announced)
    {
        var key = _keys.Refresh(stored);
        var kinds = new List<KeyEventKind>(2);
        switch (_hub.Announced(key.Id))
        {
            case null or { Known: false }:
                kinds.Add(KeyEventKind.Created);
                break;
            case { } before when before.Revoked != revoked:
                kinds.Add(revoked ? KeyEventKind.Revoked : KeyEventKind.Restored);
                break;
            case { } before:
                // A policy change and a secret change heard of together (a notification missed) are two events: a
                // process that drops its secret only on SECRET_CHANGED must see that one.
                if (before.PolicyVersion != key.PolicyVersion)
                {
                    kinds.Add(KeyEventKind.PolicyChanged);
                }

                if (before.SecretVersion != key.SecretVersion)
                {
                    kinds.Add(KeyEventKind.SecretChanged);
                }

                break;
        }

        // announced already (by this replica's own admin call, or an earlier notification) when there is none
        foreach (var kind in kinds)
        {
            Log.ReplicaKeyChanged(_logger, key.Id, kind.ToString());
            announced.Add(new Announcement(_hub.Publish(BudgetAdminGrpcService.Event(kind, key, revoked)), null));
        }
    }

    private void Apply(StoredClient stored, List<Announcement> announced)
    {
        if (_clients.Refresh(stored) is { } revokedHere)
        {
            Log.ReplicaClientRevoked(_logger, revokedHere.Id);
            announced.Add(new Announcement(_hub.PublishClientRevoked(revokedHere.Id), revokedHere));
        }
    }

    /// <summary>
    /// Waits, in the background, for this replica's streams to confirm (within the hub's bound), logs the ones that did
    /// not, and then ends a revoked credential's streams, as the replica that revoked it does for its own. Nobody waits
    /// for the result here: the operator's call returned on the replica that took it.
    /// </summary>
    private void Confirm(List<Announcement> announced, CancellationToken cancellationToken)
    {
        foreach (var announcement in announced)
        {
            _ = ConfirmAsync(announcement, cancellationToken);
        }
    }

    private async Task ConfirmAsync(Announcement announcement, CancellationToken cancellationToken)
    {
        try
        {
            var delivery = await _hub.ConfirmAsync(announcement.Published, cancellationToken);
            if (delivery.Unconfirmed.Count > 0)
            {
                Log.ReplicaChangeUnconfirmed(_logger, delivery.Confirmed, delivery.Processes, string.Join(", ", delivery.Unconfirmed));
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // the service is stopping: its streams end anyway
        }
        finally
        {
            announcement.RevokedClient?.EndStreams();
        }
    }

    private sealed record Announcement(KeyEventHub.Published Published, ServiceClient? RevokedClient);
}
