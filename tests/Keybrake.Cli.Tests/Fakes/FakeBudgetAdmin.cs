using System.Collections.Concurrent;
using System.Text;
using Google.Protobuf;
using Grpc.Core;
using Keybrake.Protocol;

namespace Keybrake.Cli.Tests.Fakes;

/// <summary>
/// A hand-written BudgetAdmin: it checks the bearer token as the service does, records every request it
/// accepts, keeps keys in memory and answers the reads with canned data the tests set.
/// </summary>
public sealed class FakeBudgetAdmin : BudgetAdmin.BudgetAdminBase
{
    public const string Token = "fake-admin-token-0123456789";
    public const string BrakeKey = "vault_key_fake_0123456789abcdef";

    private readonly ConcurrentDictionary<string, KeyInfo> _keys = new(StringComparer.Ordinal);

    /// <summary>Every request that got past the token check, in order.</summary>
    public ConcurrentQueue<IMessage> Requests { get; } = new();

    /// <summary>Every authorization header presented, accepted or not.</summary>
    public ConcurrentQueue<string> AuthorizationHeaders { get; } = new();

    public List<AuditRecord> Audit { get; } = [];

    public QuerySpendReply Spend { get; set; } = new();

    /// <summary>What GetRun answers; <see langword="null"/> answers Unimplemented, as a service from before GetRun does.</summary>
    public RunSummary? Run { get; set; }

    public ListUnsettledReply Unsettled { get; set; } = new();

    /// <summary>What ExportAudit sends, one chunk per string.</summary>
    public List<string> ExportChunks { get; } = [];

    public T Only<T>()
        where T : IMessage => Requests.OfType<T>().Single();

    public override Task<CreateKeyReply> CreateKey(CreateKeyRequest request, ServerCallContext context)
    {
        Accept(request, context);
        var key = new KeyInfo { KeyId = request.KeyId, Vendor = request.Vendor, Policy = request.Policy, PolicyVersion = 1, BrakeKeyIssued = true, CreatedAt = "2025-06-01T12:00:00Z", UpdatedAt = "2025-06-01T12:00:00Z" };
        if (!_keys.TryAdd(request.KeyId, key))
        {
            throw new RpcException(new Status(StatusCode.AlreadyExists, $"a key with id '{request.KeyId}' exists"));
        }

        return Task.FromResult(new CreateKeyReply { Key = key, BrakeKey = BrakeKey });
    }

    public override Task<KeyInfo> GetKey(GetKeyRequest request, ServerCallContext context)
    {
        Accept(request, context);
        return Task.FromResult(Find(request.KeyId));
    }

    public override Task<ListKeysReply> ListKeys(ListKeysRequest request, ServerCallContext context)
    {
        Accept(request, context);
        return Task.FromResult(new ListKeysReply { Keys = { _keys.Values.Where(k => request.Vendor.Length == 0 || k.Vendor == request.Vendor).OrderBy(k => k.KeyId, StringComparer.Ordinal) } });
    }

    public override Task<KeyInfo> UpdateKeyPolicy(UpdateKeyPolicyRequest request, ServerCallContext context)
    {
        Accept(request, context);
        var key = Find(request.KeyId).Clone();
        key.Policy = request.Policy;
        key.PolicyVersion++;
        _keys[key.KeyId] = key;
        return Task.FromResult(key);
    }

    public override Task<KeyInfo> SetKeySecret(SetKeySecretRequest request, ServerCallContext context)
    {
        Accept(request, context);
        var key = Find(request.KeyId).Clone();
        if (key.SecretVersion > 0)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, $"key '{request.KeyId}' has a vendor secret already: rotate it"));
        }

        key.SecretVersion = 1;
        key.SecretSetAt = "2025-06-01T12:00:00Z";
        _keys[key.KeyId] = key;
        return Task.FromResult(key);
    }

    public override Task<KeyInfo> RotateKeySecret(SetKeySecretRequest request, ServerCallContext context)
    {
        Accept(request, context);
        var key = Find(request.KeyId).Clone();
        key.SecretVersion++;
        key.SecretSetAt = "2025-06-01T13:00:00Z";
        key.PreviousSecretValidUntil = request.OverlapSeconds > 0 ? "2025-06-01T13:15:00Z" : string.Empty;
        key.Delivery = new KeyEventDelivery { Processes = 2, Confirmed = 2, WaitedMs = 3 };
        _keys[key.KeyId] = key;
        return Task.FromResult(key);
    }

    public override Task<KeyInfo> RevokeKey(KeyActionRequest request, ServerCallContext context) => SetRevoked(request, context, revoked: true);

    public override Task<KeyInfo> RestoreKey(KeyActionRequest request, ServerCallContext context) => SetRevoked(request, context, revoked: false);

    public override Task<QuerySpendReply> QuerySpend(QuerySpendRequest request, ServerCallContext context)
    {
        Accept(request, context);
        return Task.FromResult(Spend);
    }

    public override Task<RunSummary> GetRun(GetRunRequest request, ServerCallContext context)
    {
        Accept(request, context);
        return Run is { } run ? Task.FromResult(run) : throw new RpcException(new Status(StatusCode.Unimplemented, "Method is unimplemented."));
    }

    /// <summary>Pages of <see cref="Audit"/>, at most 100 records each; the page token is the index of the next record.</summary>
    public override Task<QueryAuditReply> QueryAudit(QueryAuditRequest request, ServerCallContext context)
    {
        Accept(request, context);
        var start = request.PageToken.Length == 0 ? 0 : int.Parse(request.PageToken, System.Globalization.CultureInfo.InvariantCulture);
        var size = request.PageSize is 0 or > 100 ? 100 : request.PageSize;
        var reply = new QueryAuditReply { Records = { Audit.Skip(start).Take(size) } };
        if (start + size < Audit.Count)
        {
            reply.NextPageToken = (start + size).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        return Task.FromResult(reply);
    }

    public override async Task ExportAudit(ExportAuditRequest request, IServerStreamWriter<ExportAuditChunk> responseStream, ServerCallContext context)
    {
        Accept(request, context);
        foreach (var chunk in ExportChunks)
        {
            await responseStream.WriteAsync(new ExportAuditChunk { Data = ByteString.CopyFrom(chunk, Encoding.UTF8) });
        }
    }

    public override Task<ListUnsettledReply> ListUnsettled(ListUnsettledRequest request, ServerCallContext context)
    {
        Accept(request, context);
        return Task.FromResult(Unsettled);
    }

    public override Task<ResolveReservationReply> ResolveReservation(ResolveReservationRequest request, ServerCallContext context)
    {
        Accept(request, context);
        return Unsettled.Reservations.Any(r => r.ReservationId == request.ReservationId)
            ? Task.FromResult(new ResolveReservationReply())
            : throw new RpcException(new Status(StatusCode.NotFound, $"no unsettled reservation has id '{request.ReservationId}'"));
    }

    public void AddKey(string keyId, string vendor, Policy policy, bool revoked = false) =>
        _keys[keyId] = new KeyInfo { KeyId = keyId, Vendor = vendor, Policy = policy, PolicyVersion = 1, Revoked = revoked, CreatedAt = "2025-06-01T12:00:00Z", UpdatedAt = "2025-06-01T12:00:00Z" };

    private Task<KeyInfo> SetRevoked(KeyActionRequest request, ServerCallContext context, bool revoked)
    {
        Accept(request, context);
        var key = Find(request.KeyId).Clone();
        key.Revoked = revoked;
        _keys[key.KeyId] = key;
        return Task.FromResult(key);
    }

    private KeyInfo Find(string keyId) =>
        _keys.TryGetValue(keyId, out var key) ? key : throw new RpcException(new Status(StatusCode.NotFound, $"no key has id '{keyId}'"));

    private void Accept(IMessage request, ServerCallContext context)
    {
        var header = context.RequestHeaders.GetValue("authorization") ?? string.Empty;
        AuthorizationHeaders.Enqueue(header);
        if (header != "Bearer " + Token)
        {
            throw new RpcException(new Status(StatusCode.Unauthenticated, "a valid admin token is required"));
        }

        Requests.Enqueue(request);
    }
}
