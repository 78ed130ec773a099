namespace Keybrake.BudgetService.Clients;

/// <summary>Client credentials as stored: a hash of each token, never the token.</summary>
internal interface IClientStore
{
    /// <summary>Every credential, revoked ones included.</summary>
    ValueTask<IReadOnlyList<StoredClient>> ListAsync(CancellationToken cancellationToken);

    /// <summary>Adds a credential; <see langword="false"/> when its id (or, astronomically unlikely, its token hash) is taken.</summary>
    ValueTask<bool> TryInsertAsync(StoredClient client, CancellationToken cancellationToken);

    /// <summary>Revokes a credential; <see langword="false"/> when there is none by that id.</summary>
    ValueTask<bool> RevokeAsync(string clientId, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>
    /// Forgets credentials the admin API issued and revoked before <paramref name="revokedBefore"/>; returns their ids.
    /// Revoked credentials declared in configuration are kept: forgotten, the next start would import them again, valid.
    /// </summary>
    ValueTask<IReadOnlyList<string>> PruneRevokedAsync(DateTimeOffset revokedBefore, CancellationToken cancellationToken);
}

/// <summary>One stored credential: the keys it may act on, and the intake integrations it may post to (none when <see langword="null"/>).</summary>
internal sealed record StoredClient(string ClientId, byte[] TokenSha256, IReadOnlyList<string> KeyIds, ClientSource Source, DateTimeOffset CreatedAt, DateTimeOffset? RevokedAt, IReadOnlyList<string>? Integrations = null);
