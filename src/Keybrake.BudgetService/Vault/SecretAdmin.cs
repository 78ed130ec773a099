using System.Globalization;
using Grpc.Core;
using Keybrake.BudgetService.Budget;
using Keybrake.BudgetService.Hosting;
using Keybrake.BudgetService.Keys;
using Keybrake.BudgetService.Store;
using Keybrake.Protocol;

namespace Keybrake.BudgetService.Vault;

/// <summary>
/// The admin calls that store a key's vendor secret: <c>SetKeySecret</c> (the first) and <c>RotateKeySecret</c>. The
/// secret is sealed before it reaches the store, the change is announced on the key event stream (SECRET_CHANGED) like
/// a policy change, and the reply, like a revocation's, waits for the processes to confirm. Nothing here logs, returns
/// or puts in an error the secret.
/// </summary>
internal sealed class SecretAdmin
{
    private readonly IKeyStore _store;
    private readonly IBudgetStore _budget;
    private readonly KeyRegistry _keys;
    private readonly KeyEventHub _events;
    private readonly SecretVault _vault;
    private readonly AdminToken _adminToken;
    private readonly TimeProvider _time;
    private readonly ILogger<SecretAdmin> _logger;

    public SecretAdmin(IKeyStore store, IBudgetStore budget, KeyRegistry keys, KeyEventHub events, SecretVault vault, AdminToken adminToken, TimeProvider time, ILogger<SecretAdmin> logger)
    {
        _store = store;
        _budget = budget;
        _keys = keys;
        _events = events;
        _vault = vault;
        _adminToken = adminToken;
        _time = time;
        _logger = logger;
    }

    /// <summary>
    /// Stores (<paramref name="rotation"/> false: the first) or replaces the key's secret; returns the key as stored,
    /// whether it is revoked, and the event published for it, for the caller to wait on.
    /// </summary>
    public async Task<(ServiceKey Key, bool Revoked, KeyEventHub.Published Published)> WriteAsync(SetKeySecretRequest request, bool rotation, CancellationToken cancellationToken)
    {
        RequestChecks.Id(request.KeyId, "key_id");
        SecretRules.Check(request.Secret, _adminToken);
        SecretRules.CheckOverlap(request.OverlapSeconds, rotation);
        var known = _keys.Find(request.KeyId) ?? throw RequestChecks.UnknownKey(request.KeyId);
        if (!_vault.Enabled)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, SecretVault.NoMasterKey));
        }

        await _events.Changes.WaitAsync(cancellationToken);
        try
        {
            var now = _time.GetUtcNow();

            // The version is the store's, not this replica's copy: another replica may have rotated meanwhile.
            var current = (await _store.FindAsync(known.Id, cancellationToken) ?? throw RequestChecks.UnknownKey(request.KeyId)).SecretVersion;
            if (!rotation && current != 0)
            {
                throw AlreadySet(known.Id, current);
            }

            if (rotation && current == 0)
            {
                throw NoneYet(known.Id);
            }

            var secret = _vault.Seal(known.Id, current + 1, request.Secret);
            DateTimeOffset? previousValidUntil = request.OverlapSeconds > 0 ? now.AddSeconds(request.OverlapSeconds) : null;
            var write = rotation
                ? await _store.RotateSecretAsync(known.Id, secret, previousValidUntil, now, cancellationToken)
                : await _store.SetFirstSecretAsync(known.Id, secret, now, cancellationToken);
            if (write.Status == SecretWriteStatus.NoKey)
            {
                throw RequestChecks.UnknownKey(request.KeyId);
            }

            if (write.Status != SecretWriteStatus.Written || write.Key is null)
            {
                throw new RpcException(new Status(StatusCode.Aborted, $"the vendor secret of key '{known.Id}' was changed by another call meanwhile; nothing was stored, try again"));
            }

            var key = _keys.Apply(write.Key);
            var revoked = (await _budget.GetRevokedAsync([key.Id], cancellationToken)).Contains(key.Id);
            var published = _events.Publish(BudgetAdminGrpcService.Event(KeyEventKind.SecretChanged, key, revoked));
            if (rotation)
            {
                Log.SecretRotated(_logger, key.Id, key.SecretVersion, previousValidUntil is { } until ? until.UtcDateTime.ToString("O", CultureInfo.InvariantCulture) : "now (no overlap)");
            }
            else
            {
                Log.SecretSet(_logger, key.Id, key.SecretVersion, secret.MasterKeyId);
            }

            return (key, revoked, published);
        }
        finally
        {
            _events.Changes.Release();
        }
    }

    private static RpcException AlreadySet(string keyId, long version) => new(new Status(
        StatusCode.FailedPrecondition, $"key '{keyId}' has a vendor secret already (version {version}): rotate it instead (RotateKeySecret)"));

    private static RpcException NoneYet(string keyId) => new(new Status(
        StatusCode.FailedPrecondition, $"key '{keyId}' has no vendor secret yet: set one first (SetKeySecret)"));
}
