using Google.Protobuf;
using Grpc.Core;
using Keybrake.BudgetService.Budget;
using Keybrake.BudgetService.Keys;
using Keybrake.BudgetService.Store;
using Keybrake.Protocol;

namespace Keybrake.BudgetService.Vault;

/// <summary>
/// <c>GetVendorSecret</c>: a key's vendor secret, opened for a guard whose client credential covers the key. A credential
/// that does not is refused (<c>PermissionDenied</c>) and the refusal stored as an audit record under the key asked for,
/// by the service itself: the process that asked cannot be trusted to report it. The secret goes into the reply and
/// nowhere else; the log says who received which version.
/// </summary>
internal sealed class SecretDelivery
{
    private readonly IKeyStore _store;
    private readonly IBudgetStore _budget;
    private readonly KeyRegistry _keys;
    private readonly SecretVault _vault;
    private readonly TimeProvider _time;
    private readonly IdGenerator _ids;
    private readonly ILogger<SecretDelivery> _logger;

    public SecretDelivery(IKeyStore store, IBudgetStore budget, KeyRegistry keys, SecretVault vault, TimeProvider time, IdGenerator ids, ILogger<SecretDelivery> logger)
    {
        _store = store;
        _budget = budget;
        _keys = keys;
        _vault = vault;
        _time = time;
        _ids = ids;
        _logger = logger;
    }

    public async Task<VendorSecretReply> DeliverAsync(GetVendorSecretRequest request, ServerCallContext context)
    {
        RequestChecks.Id(request.KeyId, "key_id");

        var client = ClientCredentialInterceptor.ClientOf(context);
        if (!client.Covers(request.KeyId))
        {
            await AuditRefusalAsync(request.KeyId, client.Id, context, context.CancellationToken);
            throw new RpcException(new Status(StatusCode.PermissionDenied, $"key '{request.KeyId}' is outside the scope of client credential '{client.Id}': its vendor secret is not delivered (the refusal is audited)"));
        }

        var key = _keys.Find(request.KeyId) ?? throw RequestChecks.UnknownKey(request.KeyId);
        if ((await _budget.GetRevokedAsync([key.Id], context.CancellationToken)).Contains(key.Id))
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, $"key '{key.Id}' is revoked: its vendor secret is not delivered"));
        }

        var secrets = await _store.ReadSecretsAsync(key.Id, _time.GetUtcNow(), context.CancellationToken);
        if (secrets.FirstOrDefault(secret => secret.ValidUntil is null) is not { } current)
        {
            throw new RpcException(new Status(StatusCode.NotFound, $"the budget service holds no vendor secret for key '{key.Id}' (an operator sets one: keybrake keys set-secret {key.Id})"));
        }

        if (_vault.Open(key.Id, current) is not { } plaintext)
        {
            Log.SecretUnreadable(_logger, key.Id, current.Version, current.MasterKeyId);
            throw new RpcException(new Status(StatusCode.DataLoss, $"the vendor secret of key '{key.Id}' does not open under the service's master key; an operator must set it again"));
        }

        Log.SecretDelivered(_logger, key.Id, current.Version, client.Id);
        return new VendorSecretReply { KeyId = key.Id, Secret = plaintext, Version = current.Version };
    }

    /// <summary>Stores the refusal as an audit record under the key asked for: decision <c>deny</c>, reason <c>secret_refused</c>, who asked, from where.</summary>
    private async Task AuditRefusalAsync(string keyId, string clientId, ServerCallContext context, CancellationToken cancellationToken)
    {
        Log.SecretRefused(_logger, clientId, context.Peer, keyId);
        var now = _time.GetUtcNow();
        var record = new AuditRecord
        {
            RecordId = _ids.New("aud_"),
            TimestampUnixMicros = UnixMicros.From(now),
            KeyId = keyId,
            Vendor = _keys.Find(keyId)?.Vendor ?? string.Empty,
            Method = "GetVendorSecret",
            Endpoint = context.Method,
            Decision = "deny",
            Reason = ReasonCodes.SecretRefused,
            Message = $"client credential '{clientId}' asked for the vendor secret of key '{keyId}', which is outside its scope",
            ClientId = clientId,
            Parameters = { ["peer"] = context.Peer },
        };
        await _budget.AppendAuditAsync(
            [new StoredAuditRecord(record.RecordId, now, keyId, record.Vendor, null, record.Decision, record.Reason, JsonFormatter.Default.Format(record), clientId)],
            now,
            cancellationToken);
    }
}
