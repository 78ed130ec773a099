namespace Keybrake.BudgetService.Clients;

/// <summary>
/// A client credential as the money path sees it: who the caller is and which keys it may act on. Only the
/// SHA-256 of its token is held. Once an operator revokes it, its calls are refused; <see cref="Revocation"/> is
/// cancelled once its processes confirmed the revocation (or the bound passed), which ends every key event stream
/// the client has open.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA1001", Justification = "A credential lives as long as the service; its token source holds no timer or wait handle.")]
internal sealed class ServiceClient
{
    /// <summary>The scope entry that stands for every key, present and future.</summary>
    public const string AllKeys = "*";

    private readonly CancellationTokenSource _revocation = new();
    private readonly HashSet<string> _keyIds;
    private readonly bool _allKeys;

    public ServiceClient(string id, byte[] tokenSha256, IReadOnlyList<string> keyIds, ClientSource source, DateTimeOffset createdAt, DateTimeOffset? revokedAt, IReadOnlyList<string>? integrations = null)
    {
        Id = id;
        TokenSha256 = tokenSha256;
        KeyIds = keyIds;
        Integrations = integrations ?? [];
        Source = source;
        CreatedAt = createdAt;
        RevokedAt = revokedAt;
        _keyIds = keyIds.ToHashSet(StringComparer.Ordinal);
        _allKeys = _keyIds.Contains(AllKeys);
        if (revokedAt is not null)
        {
            _revocation.Cancel();
        }
    }

    public string Id { get; }

    public byte[] TokenSha256 { get; }

    /// <summary>The keys in scope, as the operator gave them (<c>*</c> for every key).</summary>
    public IReadOnlyList<string> KeyIds { get; }

    /// <summary>The intake integrations it may post to (<c>litellm</c>); none for most credentials.</summary>
    public IReadOnlyList<string> Integrations { get; }

    /// <summary>A credential for intake integrations only: it has no key in scope, and the money path refuses it.</summary>
    public bool IntegrationOnly => KeyIds.Count == 0;

    public ClientSource Source { get; }

    public DateTimeOffset CreatedAt { get; }

    public DateTimeOffset? RevokedAt { get; private set; }

    public bool IsRevoked => RevokedAt is not null;

    /// <summary>Cancelled once the revocation reached the credential's streams (<see cref="EndStreams"/>), or from the start for one revoked earlier.</summary>
    public CancellationToken Revocation => _revocation.Token;

    /// <summary>Whether the credential may post to the intake integration <paramref name="integration"/>.</summary>
    public bool Allows(string integration) => Integrations.Contains(integration, StringComparer.Ordinal);

    /// <summary>Whether the credential may act on <paramref name="keyId"/>.</summary>
    public bool Covers(string keyId) => _allKeys || _keyIds.Contains(keyId);

    /// <summary>
    /// Marks the credential revoked: every call it makes is refused from now on, but for the confirmation of the
    /// revocation itself. Its streams stay open until <see cref="EndStreams"/>, so that they can carry the event.
    /// </summary>
    public void Revoke(DateTimeOffset at) => RevokedAt ??= at;

    /// <summary>Ends the credential's key event streams (with <c>Unauthenticated</c>), and any it opens later.</summary>
    public void EndStreams() => _revocation.Cancel();
}

/// <summary>Where a credential came from.</summary>
internal enum ClientSource
{
    /// <summary>Issued through the admin API.</summary>
    Admin,

    /// <summary>Declared (by the hash of its token) in the service's configuration.</summary>
    Configuration,
}
