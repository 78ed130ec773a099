using System.Collections.Concurrent;
using System.Security.Cryptography;
using Keybrake.BudgetService.Hosting;
using Microsoft.Extensions.Options;

namespace Keybrake.BudgetService.Clients;

/// <summary>
/// The client credentials, in memory for the money path (every Budget call is checked against them); the store is
/// the record. Credentials declared in configuration (by the SHA-256 of their token) are imported on first start;
/// the admin API issues and revokes the rest.
/// </summary>
internal sealed class ClientRegistry
{
    private readonly ConcurrentDictionary<string, ServiceClient> _byId = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, ServiceClient> _byHash = new(StringComparer.Ordinal);
    private readonly IClientStore _store;
    private readonly IOptionsMonitor<BudgetServiceOptions> _options;
    private readonly TimeProvider _time;
    private readonly ILogger<ClientRegistry> _logger;

    public ClientRegistry(IClientStore store, IOptionsMonitor<BudgetServiceOptions> options, TimeProvider time, ILogger<ClientRegistry> logger)
    {
        _store = store;
        _options = options;
        _time = time;
        _logger = logger;
    }

    public IEnumerable<ServiceClient> All => _byId.Values.OrderBy(client => client.Id, StringComparer.Ordinal);

    public ServiceClient? Find(string clientId) => _byId.GetValueOrDefault(clientId);

    /// <summary>
    /// The credential a token belongs to, revoked or not; <see langword="null"/> for a token the service never
    /// issued. The lookup is by the token's SHA-256, so its timing depends on the hash, never on the token; the
    /// final comparison runs in constant time.
    /// </summary>
    public ServiceClient? Authenticate(string? token)
    {
        if (token is null)
        {
            return null;
        }

        var hash = ClientTokens.Hash(token);
        return _byHash.TryGetValue(Convert.ToHexString(hash), out var client) && CryptographicOperations.FixedTimeEquals(hash, client.TokenSha256)
            ? client
            : null;
    }

    /// <summary>Imports the configured credentials and loads every stored one.</summary>
    public async Task LoadAsync(CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        foreach (var (id, configured) in _options.CurrentValue.Clients)
        {
            // Inserted once: a credential declared in configuration and revoked through the admin API stays revoked.
            var stored = new StoredClient(id, Convert.FromHexString(configured.TokenSha256), [.. configured.Keys], ClientSource.Configuration, now, null, [.. configured.Integrations]);
            await _store.TryInsertAsync(stored, cancellationToken);
        }

        foreach (var stored in await _store.ListAsync(cancellationToken))
        {
            Add(stored);
        }

        Log.ClientsLoaded(_logger, _byId.Values.Count(client => !client.IsRevoked));
    }

    /// <summary>Issues a credential for checked key ids and integrations; the client and its token (shown once), or <see langword="null"/> when the id is taken.</summary>
    public async Task<(ServiceClient Client, string Token)?> CreateAsync(string clientId, IReadOnlyList<string> keyIds, IReadOnlyList<string> integrations, CancellationToken cancellationToken)
    {
        var token = ClientTokens.Create();
        var stored = new StoredClient(clientId, ClientTokens.Hash(token), keyIds, ClientSource.Admin, _time.GetUtcNow(), null, integrations);
        if (!await _store.TryInsertAsync(stored, cancellationToken))
        {
            return null;
        }

        return (Add(stored), token);
    }

    /// <summary>
    /// Revokes a credential: stored first, then every call it makes is refused (its open key event streams are the
    /// caller's to end, once they carried the revocation). <see langword="null"/> when there is no such credential.
    /// </summary>
    public async Task<ServiceClient?> RevokeAsync(string clientId, CancellationToken cancellationToken)
    {
        if (!_byId.TryGetValue(clientId, out var client))
        {
            return null;
        }

        var now = _time.GetUtcNow();
        await _store.RevokeAsync(clientId, now, cancellationToken);
        client.Revoke(now);
        return client;
    }

    /// <summary>Forgets the admin-issued credentials revoked before <paramref name="revokedBefore"/>, in the store and here; returns how many.</summary>
    public async Task<int> PruneRevokedAsync(DateTimeOffset revokedBefore, CancellationToken cancellationToken)
    {
        var pruned = await _store.PruneRevokedAsync(revokedBefore, cancellationToken);
        foreach (var clientId in pruned)
        {
            // A token of a forgotten credential is refused as unknown, as it was refused as revoked.
            if (_byId.TryRemove(clientId, out var client))
            {
                _byHash.TryRemove(Convert.ToHexString(client.TokenSha256), out _);
            }
        }

        return pruned.Count;
    }

    /// <summary>
    /// Takes a credential as another replica stored it: one this replica does not hold yet is added; a revocation is
    /// applied to the one it holds (which keeps its open streams). Returns the credential when this call revoked it here,
    /// <see langword="null"/> otherwise.
    /// </summary>
    public ServiceClient? Refresh(StoredClient stored)
    {
        if (!_byId.TryGetValue(stored.ClientId, out var client))
        {
            Add(stored);
            return null;
        }

        if (stored.RevokedAt is { } revokedAt && !client.IsRevoked)
        {
            client.Revoke(revokedAt);
            return client;
        }

        return null;
    }

    private ServiceClient Add(StoredClient stored)
    {
        var client = new ServiceClient(stored.ClientId, stored.TokenSha256, stored.KeyIds, stored.Source, stored.CreatedAt, stored.RevokedAt, stored.Integrations);
        _byId[client.Id] = client;
        _byHash[Convert.ToHexString(client.TokenSha256)] = client;
        return client;
    }
}
