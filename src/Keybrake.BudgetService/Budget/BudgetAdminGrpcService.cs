using System.Globalization;
using System.Security.Cryptography;
using Google.Protobuf;
using Grpc.Core;
using Keybrake.BudgetService.Clients;
using Keybrake.BudgetService.Keys;
using Keybrake.BudgetService.Store;
using Keybrake.Protocol;

namespace Keybrake.BudgetService.Budget;

/// <summary>
/// The operator API: keys and policies, revocation, spend, audit and unsettled reservations. Every call must
/// carry the admin token (checked by <see cref="AdminTokenInterceptor"/> before any of this runs).
/// </summary>
internal sealed partial class BudgetAdminGrpcService : BudgetAdmin.BudgetAdminBase
{
    private const int DefaultPageSize = 100;
    private const int MaxPageSize = 1000;

    private readonly IBudgetStore _store;
    private readonly IAdminQueries _queries;
    private readonly KeyRegistry _keys;
    private readonly KeyEventHub _events;
    private readonly TimeProvider _time;
    private readonly ILogger<BudgetAdminGrpcService> _logger;
    private readonly ClientAdmin _clients;
    private readonly OverrunReports _overruns;
    private readonly Vault.SecretAdmin _secrets;
    private readonly IdGenerator _ids;
    private readonly Alerts.AlertParts _alerts;

    public BudgetAdminGrpcService(IBudgetStore store, IAdminQueries queries, KeyRegistry keys, KeyEventHub events, TimeProvider time, ClientAdmin clients, OverrunReports overruns, Vault.SecretAdmin secrets, IdGenerator ids, Alerts.AlertParts alerts, Leases.LeaseEvents leases, ILogger<BudgetAdminGrpcService> logger)
    {
        _leases = leases;
        _secrets = secrets;
        _ids = ids;
        _alerts = alerts;
        _overruns = overruns;
        _clients = clients;
        _store = store;
        _queries = queries;
        _keys = keys;
        _events = events;
        _time = time;
        _logger = logger;
    }

    public override async Task<CreateKeyReply> CreateKey(CreateKeyRequest request, ServerCallContext context)
    {
        KeyIds.Check(request.KeyId);
        var vendor = request.Vendor.ToLowerInvariant();
        if (!KnownVendors.All.ContainsKey(vendor))
        {
            throw RequestChecks.Invalid($"vendor '{RequestChecks.Shown(request.Vendor)}' is not one the service knows ({KnownVendors.Names})");
        }

        CheckPolicy(request.KeyId, vendor, request.Policy);
        var brakeKey = BrakeKeys.Create();
        ServiceKey key;

        // Stored and announced under the hub's lock, like every key change, so that the replica's own notification of
        // it, heard meanwhile, finds it announced (Replicas.ReplicaChanges).
        await _events.Changes.WaitAsync(context.CancellationToken);
        try
        {
            key = await _keys.CreateAsync(request.KeyId, vendor, request.Policy, BrakeKeys.Hash(brakeKey), context.CancellationToken)
                ?? throw new RpcException(new Status(StatusCode.AlreadyExists, $"key '{request.KeyId}' already exists"));
            _events.Publish(Event(KeyEventKind.Created, key, revoked: false));
        }
        finally
        {
            _events.Changes.Release();
        }

        Log.KeyCreated(_logger, key.Id, key.Vendor);
        return new CreateKeyReply { Key = Info(key, revoked: false), BrakeKey = brakeKey };
    }

    public override Task<CreateClientReply> CreateClient(CreateClientRequest request, ServerCallContext context) =>
        _clients.CreateAsync(request, context.CancellationToken);

    public override Task<ListClientsReply> ListClients(ListClientsRequest request, ServerCallContext context) =>
        Task.FromResult(_clients.List());

    public override Task<ClientInfo> RevokeClient(ClientActionRequest request, ServerCallContext context) =>
        _clients.RevokeAsync(request, context.CancellationToken);

    public override async Task<KeyInfo> GetKey(GetKeyRequest request, ServerCallContext context)
    {
        var key = Key(request.KeyId);
        return await WithLeasesAsync(Info(key, await IsRevokedAsync(key.Id, context.CancellationToken)), context.CancellationToken);
    }

    public override async Task<ListKeysReply> ListKeys(ListKeysRequest request, ServerCallContext context)
    {
        var vendor = request.Vendor.ToLowerInvariant();
        var keys = _keys.All.Where(key => vendor.Length == 0 || key.Vendor == vendor).ToList();
        var revoked = await _store.GetRevokedAsync(keys.Select(key => key.Id).ToList(), context.CancellationToken);
        var reply = new ListKeysReply();
        reply.Keys.AddRange(keys.Select(key => Info(key, revoked.Contains(key.Id))));
        await WithLeasesAsync(reply.Keys, context.CancellationToken);
        return reply;
    }

    public override async Task<KeyInfo> UpdateKeyPolicy(UpdateKeyPolicyRequest request, ServerCallContext context)
    {
        var current = Key(request.KeyId);
        CheckPolicy(current.Id, current.Vendor, request.Policy);
        await _events.Changes.WaitAsync(context.CancellationToken);
        ServiceKey key;
        bool revoked;
        KeyEventHub.Published published;
        try
        {
            key = await _keys.UpdatePolicyAsync(current.Id, request.Policy, context.CancellationToken)
                ?? throw RequestChecks.UnknownKey(request.KeyId);
            revoked = await IsRevokedAsync(key.Id, context.CancellationToken);
            published = _events.Publish(Event(KeyEventKind.PolicyChanged, key, revoked));
        }
        finally
        {
            _events.Changes.Release();
        }

        Log.PolicyChanged(_logger, key.Id, key.PolicyVersion);

        // A tighter policy is in force only once the processes dropped the old one: wait for them, as a revocation does.
        var info = Info(key, revoked);
        info.Delivery = await ConfirmedAsync(key.Id, published, context.CancellationToken);
        return info;
    }

    public override Task<KeyInfo> SetKeySecret(SetKeySecretRequest request, ServerCallContext context) => WriteSecretAsync(request, rotation: false, context);

    public override Task<KeyInfo> RotateKeySecret(SetKeySecretRequest request, ServerCallContext context) => WriteSecretAsync(request, rotation: true, context);

    /// <summary>Stores the secret (sealed), then waits, outside the lock, for the processes to drop the one they hold.</summary>
    private async Task<KeyInfo> WriteSecretAsync(SetKeySecretRequest request, bool rotation, ServerCallContext context)
    {
        var (key, revoked, published) = await _secrets.WriteAsync(request, rotation, context.CancellationToken);
        var info = Info(key, revoked);
        info.Delivery = await ConfirmedAsync(key.Id, published, context.CancellationToken);
        return info;
    }

    public override Task<KeyInfo> RevokeKey(KeyActionRequest request, ServerCallContext context) => SetRevokedAsync(request.KeyId, revoked: true, context);

    public override Task<KeyInfo> RestoreKey(KeyActionRequest request, ServerCallContext context) => SetRevokedAsync(request.KeyId, revoked: false, context);

    public override async Task<SpendReply> GetDailySpend(DailySpendRequest request, ServerCallContext context)
    {
        var key = Key(request.KeyId);
        var day = request.Day.Length == 0 ? DayWindow.DayOf(_time.GetUtcNow(), key.Policy.TimeZone) : Day(request.Day, "day");
        var spend = await _store.GetDaySpendAsync(key.Id, day, context.CancellationToken);
        return new SpendReply
        {
            KeyId = key.Id,
            CapMicroUsd = key.Policy.DailyCap.Micros,
            SettledMicroUsd = spend.SettledMicroUsd,
            ReservedMicroUsd = spend.ReservedMicroUsd,
            Day = day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
            OverrunMicroUsd = spend.OverrunMicroUsd,
            OverCap = spend.OverrunMicroUsd > 0,
        };
    }

    public override async Task<SpendReply> GetRunSpend(RunSpendRequest request, ServerCallContext context)
    {
        var key = Key(request.KeyId);
        RequestChecks.Id(request.RunId, "run_id");
        var spend = await _store.GetRunSpendAsync(key.Id, request.RunId, context.CancellationToken);
        var reply = new SpendReply
        {
            KeyId = key.Id,
            SettledMicroUsd = spend.SettledMicroUsd,
            ReservedMicroUsd = spend.ReservedMicroUsd,
            RunId = request.RunId,
            OverrunMicroUsd = spend.OverrunMicroUsd,
            OverCap = spend.OverrunMicroUsd > 0,
        };
        if (key.Policy.RunCap is { } cap)
        {
            reply.CapMicroUsd = cap.Micros;
        }

        return reply;
    }

    public override async Task<QuerySpendReply> QuerySpend(QuerySpendRequest request, ServerCallContext context)
    {
        var groups = SpendGrouping.Parse(request.GroupBy, request.RunId.Length > 0);
        if (request.KeyId.Length > 0)
        {
            Key(request.KeyId);
        }

        var vendor = request.Vendor.ToLowerInvariant();
        var vendors = _keys.All.ToDictionary(key => key.Id, key => key.Vendor, StringComparer.Ordinal);
        IReadOnlyCollection<string>? keyIds = request.KeyId.Length > 0
            ? [request.KeyId]
            : vendor.Length > 0 ? vendors.Where(pair => pair.Value == vendor).Select(pair => pair.Key).ToList() : null;
        var filter = new SpendFilter(
            keyIds,
            request.RunId.Length == 0 ? null : request.RunId,
            request.FromDay.Length == 0 ? null : Day(request.FromDay, "from_day"),
            request.ToDay.Length == 0 ? null : Day(request.ToDay, "to_day"));
        var counters = await _queries.ListCountersAsync(filter, groups.ByRun, context.CancellationToken);
        return groups.Aggregate(counters, vendors);
    }

    public override async Task<QueryAuditReply> QueryAudit(QueryAuditRequest request, ServerCallContext context)
    {
        var pageSize = request.PageSize switch
        {
            0 => DefaultPageSize,
            < 0 or > MaxPageSize => throw RequestChecks.Invalid($"page_size must be between 1 and {MaxPageSize}"),
            _ => request.PageSize,
        };
        var filter = AuditFilters.From(request.RunId, request.KeyId, request.Vendor, request.Decision, request.From, request.To)
            with { After = AuditFilters.ParsePageToken(request.PageToken) };

        // One more than asked tells whether another page follows.
        var rows = await _queries.QueryAuditAsync(filter, pageSize + 1, context.CancellationToken);
        var reply = new QueryAuditReply();
        foreach (var row in rows.Take(pageSize))
        {
            reply.Records.Add(AuditFilters.Parse(row));
        }

        if (rows.Count > pageSize)
        {
            reply.NextPageToken = AuditFilters.PageToken(rows[pageSize - 1]);
        }

        return reply;
    }

    public override async Task ExportAudit(ExportAuditRequest request, IServerStreamWriter<ExportAuditChunk> responseStream, ServerCallContext context)
    {
        var format = AuditExport.ParseFormat(request.Format);
        var filter = AuditFilters.From(request.RunId, request.KeyId, request.Vendor, request.Decision, request.From, request.To);
        await foreach (var chunk in AuditExport.ChunksAsync(_queries.ExportAuditAsync(filter, context.CancellationToken), format, context.CancellationToken))
        {
            await responseStream.WriteAsync(new ExportAuditChunk { Data = ByteString.CopyFrom(chunk.Span) }, context.CancellationToken);
        }
    }

    public override async Task<ListUnsettledReply> ListUnsettled(ListUnsettledRequest request, ServerCallContext context)
    {
        RequestChecks.Id(request.KeyId, "key_id", required: false);
        DateTimeOffset? olderThan = request.OlderThan.Length == 0 ? null : AuditFilters.Moment(request.OlderThan, "older_than");
        var list = await _store.ListUnsettledAsync(request.KeyId.Length == 0 ? null : request.KeyId, context.CancellationToken);
        var reply = new ListUnsettledReply();
        foreach (var reservation in list.Where(r => olderThan is null || r.CreatedAt < olderThan))
        {
            reply.Reservations.Add(new Protocol.UnsettledReservation
            {
                ReservationId = reservation.ReservationId,
                KeyId = reservation.KeyId,
                RunId = reservation.RunId ?? string.Empty,
                IdempotencyKey = reservation.IdempotencyKey,
                EstimateMicroUsd = reservation.EstimateMicroUsd,
                Day = reservation.Day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
                CreatedUnixMicros = reservation.CreatedAt.ToUnixTimeMilliseconds() * 1000,
                Held = reservation.HeldActualMicroUsd is not null,
                HeldActualMicroUsd = reservation.HeldActualMicroUsd ?? 0,
            });
        }

        return reply;
    }

    public override async Task<ResolveReservationReply> ResolveReservation(ResolveReservationRequest request, ServerCallContext context)
    {
        RequestChecks.Id(request.ReservationId, "reservation_id");
        long? actual = request.HasActualMicroUsd ? request.ActualMicroUsd : null;
        if (actual is { } amount)
        {
            RequestChecks.Amount(amount, "actual_micro_usd");
        }

        ResolutionAudit.CheckReason(request.Reason);

        // Read first, for the audit record's run: the store's answer names the key only.
        var reservation = (await _store.ListUnsettledAsync(null, context.CancellationToken)).FirstOrDefault(r => r.ReservationId == request.ReservationId);
        var now = _time.GetUtcNow();
        var result = await _store.ResolveAsync(request.ReservationId, actual, now, _overruns.CapsOf, context.CancellationToken);
        _overruns.Report(result);
        if (result.Status == SettleStatus.Settled && result.KeyId is { } keyId)
        {
            var record = ResolutionAudit.Record(_ids.New("aud_"), now, keyId, _keys.Find(keyId)?.Vendor ?? string.Empty, request.ReservationId, reservation?.RunId, actual, request.Reason);
            await _store.AppendAuditAsync([record], now, context.CancellationToken);
            Log.ReservationResolved(_logger, request.ReservationId, keyId, actual is null ? "released" : "committed");
        }

        return result.Status switch
        {
            SettleStatus.Settled => new ResolveReservationReply(),
            SettleStatus.TooLarge => throw new RpcException(new Status(
                StatusCode.FailedPrecondition,
                string.Create(CultureInfo.InvariantCulture, $"committing {actual} micro-USD would take the key's counters past {BookLimits.MaxCounterMicroUsd} micro-USD; nothing changed"))),
            _ => throw new RpcException(new Status(StatusCode.NotFound, $"no unsettled reservation has id '{RequestChecks.Shown(request.ReservationId)}'")),
        };
    }

    /// <summary>
    /// Stores the revocation, then tells every watching process: by the time the caller hears back, the events are
    /// on their way. One change at a time (<see cref="KeyEventHub.Changes"/>), so that two operators revoking and
    /// restoring the same key at once are announced in the order they were stored.
    /// </summary>
    private async Task<KeyInfo> SetRevokedAsync(string keyId, bool revoked, ServerCallContext context)
    {
        var key = Key(keyId);
        await _events.Changes.WaitAsync(context.CancellationToken);
        KeyEventHub.Published published;
        try
        {
            await _store.SetRevokedAsync(key.Id, revoked, _time.GetUtcNow(), context.CancellationToken);
            published = _events.Publish(Event(revoked ? KeyEventKind.Revoked : KeyEventKind.Restored, key, revoked));
        }
        finally
        {
            _events.Changes.Release();
        }

        if (revoked)
        {
            await VoidLeasesAsync(key.Id, context.CancellationToken);
        }

        Log.RevocationChanged(_logger, key.Id, revoked);
        _alerts.Signals.KeyRevocation(key.Id, revoked, _time.GetUtcNow());
        // Outside the lock: other changes need not queue behind this one's confirmations. A restoration waits too,
        // so that the operator's next call through any process is not denied by a copy the event has not reached.
        var info = Info(key, revoked);
        info.Delivery = await ConfirmedAsync(key.Id, published, context.CancellationToken);
        return info;
    }

    /// <summary>Waits for the processes on the key event stream to confirm a change, and logs the ones that did not.</summary>
    private async Task<KeyEventDelivery> ConfirmedAsync(string keyId, KeyEventHub.Published published, CancellationToken cancellationToken)
    {
        var delivery = await _events.ConfirmAsync(published, cancellationToken);
        if (delivery.Unconfirmed.Count > 0)
        {
            Log.KeyEventUnconfirmed(_logger, keyId, delivery.Confirmed, delivery.Processes, string.Join(", ", delivery.Unconfirmed));
        }

        return delivery;
    }

    private static void CheckPolicy(string keyId, string vendor, Policy? policy)
    {
        var errors = new List<string>();
        if (KeyRegistry.Compile(keyId, vendor, policy, errors) is null)
        {
            throw RequestChecks.Invalid(string.Join("; ", errors));
        }
    }

    private async Task<bool> IsRevokedAsync(string keyId, CancellationToken cancellationToken) =>
        (await _store.GetRevokedAsync([keyId], cancellationToken)).Contains(keyId);

    private ServiceKey Key(string keyId)
    {
        RequestChecks.Id(keyId, "key_id");
        return _keys.Find(keyId) ?? throw RequestChecks.UnknownKey(keyId);
    }

    private static DateOnly Day(string text, string field) =>
        DateOnly.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var day)
            ? day
            : throw RequestChecks.Invalid($"{field} must be yyyy-MM-dd, not '{RequestChecks.Shown(text)}'");

    internal static KeyEvent Event(KeyEventKind kind, ServiceKey key, bool revoked) => new()
    {
        Kind = kind,
        Keys = { new WatchedKey { KeyId = key.Id, Known = true, Revoked = revoked, PolicyVersion = key.PolicyVersion, SecretVersion = key.SecretVersion } },
    };

    /// <summary>The key as the admin API shows it: the version of its vendor secret, never the secret.</summary>
    private KeyInfo Info(ServiceKey key, bool revoked) => new()
    {
        KeyId = key.Id,
        Vendor = key.Vendor,
        Policy = key.Message,
        PolicyVersion = key.PolicyVersion,
        Revoked = revoked,
        CreatedAt = key.CreatedAt.UtcDateTime.ToString("O", CultureInfo.InvariantCulture),
        UpdatedAt = key.UpdatedAt.UtcDateTime.ToString("O", CultureInfo.InvariantCulture),
        BrakeKeyIssued = key.BrakeKeySha256 is not null,
        SecretVersion = key.SecretVersion,
        SecretSetAt = key.SecretSetAt is { } setAt ? setAt.UtcDateTime.ToString("O", CultureInfo.InvariantCulture) : string.Empty,
        PreviousSecretValidUntil = key.PreviousSecretValidUntil is { } until && until > _time.GetUtcNow()
            ? until.UtcDateTime.ToString("O", CultureInfo.InvariantCulture)
            : string.Empty,
    };
}

/// <summary>Brake keys the admin API issues: <c>vault_key_</c> and 32 random characters; the service keeps their SHA-256 only.</summary>
internal static class BrakeKeys
{
    private const string Alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

    public static string Create() => "vault_key_" + RandomNumberGenerator.GetString(Alphabet, 32);

    public static byte[] Hash(string brakeKey) => SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(brakeKey));
}

/// <summary>
/// Key ids: what clients, logs, audit records and REST paths name a key by. Letters, digits, '.', '_' and '-'
/// only, and never '.' or '..', which a path would read as itself or its parent.
/// </summary>
internal static class KeyIds
{
    public const string Rule = "must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' and '-', and not '.' or '..'";

    public static bool IsValid(string keyId) =>
        keyId.Length is > 0 and <= 64
        && keyId is not ("." or "..")
        && keyId.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');

    public static void Check(string keyId)
    {
        RequestChecks.Id(keyId, "key_id");
        if (!IsValid(keyId))
        {
            throw RequestChecks.Invalid($"key_id '{RequestChecks.Shown(keyId)}' {Rule}");
        }
    }
}
