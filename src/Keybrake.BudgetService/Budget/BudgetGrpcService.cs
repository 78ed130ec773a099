using System.Buffers.Binary;
using Google.Protobuf;
using Grpc.Core;
using Keybrake.BudgetService.Keys;
using Keybrake.BudgetService.Replicas;
using Keybrake.BudgetService.Store;
using Keybrake.Protocol;

namespace Keybrake.BudgetService.Budget;

/// <summary>
/// The money path: Authorize and Settle, plus revocation status, vendor objects and audit intake. Every call comes
/// with a client credential (checked by <see cref="ClientCredentialInterceptor"/>) and acts only on the keys in its
/// scope: a call naming another key is <c>PermissionDenied</c>, and a settlement of another key's reservation is
/// not applied.
/// </summary>
internal sealed partial class BudgetGrpcService : Protocol.Budget.BudgetBase
{
    private static readonly TimeSpan s_heartbeat = TimeSpan.FromSeconds(1);

    private readonly IBudgetStore _store;
    private readonly KeyRegistry _keys;
    private readonly KeyEventHub _events;
    private readonly TimeProvider _time;
    private readonly IdGenerator _ids;
    private readonly ILogger<BudgetGrpcService> _logger;
    private readonly IHostApplicationLifetime _lifetime;
    private readonly OverrunReports _overruns;
    private readonly ChangeFeed _feed;
    private readonly Vault.SecretDelivery _secrets;
    private readonly Alerts.AlertSignals _alerts;

    public BudgetGrpcService(IBudgetStore store, KeyRegistry keys, KeyEventHub events, TimeProvider time, IdGenerator ids, IHostApplicationLifetime lifetime, OverrunReports overruns, ChangeFeed feed, Vault.SecretDelivery secrets, Alerts.AlertSignals alerts, Leases.LeaseEvents leases, Microsoft.Extensions.Options.IOptions<Leases.LeaseServiceOptions> leaseOptions, Microsoft.Extensions.Options.IOptions<Hosting.BudgetServiceOptions> serviceOptions, ILogger<BudgetGrpcService> logger)
    {
        _leases = leases;
        _recallWait = leaseOptions.Value.RecallWait;
        _replicated = serviceOptions.Value.Store == Hosting.BudgetServiceOptions.PostgreSqlStore;
        _secrets = secrets;
        _alerts = alerts;
        _feed = feed;
        _overruns = overruns;
        _store = store;
        _keys = keys;
        _events = events;
        _time = time;
        _ids = ids;
        _lifetime = lifetime;
        _logger = logger;
    }

    public override async Task<AuthorizeReply> Authorize(AuthorizeRequest request, ServerCallContext context)
    {
        RequestChecks.Id(request.KeyId, "key_id");
        RequestChecks.Id(request.IdempotencyKey, "idempotency_key");
        RequestChecks.RunId(request.RunId);
        RequestChecks.Amount(request.EstimateMicroUsd, "estimate_micro_usd");
        if (request.RequestHash.Length != 16)
        {
            throw RequestChecks.Invalid("request_hash must be 16 bytes");
        }

        InScope(context, request.KeyId);
        var key = _keys.Find(request.KeyId) ?? throw RequestChecks.UnknownKey(request.KeyId);
        var now = _time.GetUtcNow();
        var day = DayWindow.DayOf(now, key.Policy.TimeZone);

        // Checked against this replica's copy of the key, which a rotation updates before its reply (and, on other
        // replicas, before their streams hear of it): no extra round trip on the money path.
        if (request.SecretVersion < 0)
        {
            throw RequestChecks.Invalid("secret_version must not be negative");
        }

        if (!key.AcceptsSecret(request.SecretVersion, now))
        {
            // A revoked key says so rather than send the guard to fetch a secret it will not be given. Only this
            // denial pays the extra read.
            if ((await _store.GetRevokedAsync([key.Id], context.CancellationToken)).Contains(key.Id))
            {
                return new AuthorizeReply { Allowed = false, Reason = ReasonCodes.KeyRevoked, Message = $"key '{key.Id}' is revoked" };
            }

            Log.SecretVersionRefused(_logger, key.Id, request.SecretVersion, key.SecretVersion);
            return new AuthorizeReply
            {
                Allowed = false,
                Reason = ReasonCodes.SecretRotated,
                Message = $"the vendor secret of key '{key.Id}' was rotated to version {key.SecretVersion}; version {request.SecretVersion} is no longer accepted (its overlap window has closed)",
            };
        }

        var outcome = await _store.AuthorizeAsync(
            new AuthorizeCommand(
                key.Id,
                request.RunId.Length == 0 ? null : request.RunId,
                request.IdempotencyKey,
                BinaryPrimitives.ReadUInt128LittleEndian(request.RequestHash.Span),
                request.EstimateMicroUsd,
                day,
                key.Policy.DailyCap.Micros,
                key.Policy.RunCap?.Micros,
                _ids.New("rsv_"),
                now,
                key.Policy.RunCapIncludesLlm),
            context.CancellationToken);

        _alerts.Authorized(key, request.RunId.Length == 0 ? null : request.RunId, now, outcome);
        return await RecallLeasesAsync(Reply(key, request, day, outcome), key.Id, request.RunId, outcome.Status, context.CancellationToken);
    }

    public override async Task<SettleReply> Settle(SettleRequest request, ServerCallContext context)
    {
        RequestChecks.Batch(request.Settlements.Count, "settlements");
        RequestChecks.Batch(request.Objects.Count, "objects");
        var client = ClientCredentialInterceptor.ClientOf(context);
        var objectGroups = request.Objects.Select(group => (group.KeyId, group.Vendor, Objects: CheckedObjects(group, context))).ToList();
        var commands = new List<SettleCommand>(request.Settlements.Count);
        foreach (var settlement in request.Settlements)
        {
            RequestChecks.Id(settlement.ReservationId, "settlements.reservation_id");
            RequestChecks.Amount(settlement.ActualMicroUsd, "settlements.actual_micro_usd");
            commands.Add(new SettleCommand(settlement.ReservationId, settlement.Kind == Protocol.SettlementKind.Commit, settlement.ActualMicroUsd));
        }

        var deferrals = CheckedDeferrals(request);
        var objectSettlements = CheckedObjectSettlements(request);
        var leasedCalls = CheckedLeasedCalls(request, context);
        var returnedLeases = CheckedReturnedLeases(request);
        var now = _time.GetUtcNow();

        // Leased calls first of all, so that settlements in this request find their reservations.
        var leasedRecorded = await RecordLeasedCallsAsync(leasedCalls, client, now, context.CancellationToken);
        foreach (var (keyId, vendor, objects) in objectGroups)
        {
            await _store.RememberObjectsAsync(keyId, vendor, objects, now, context.CancellationToken);
        }

        // Deferrals before the prices reported by object, so that a price in the same request finds its deferral.
        var reply = new SettleReply { DeferralsRecorded = await RecordDeferralsAsync(deferrals, client, now, context.CancellationToken), LeasedCallsRecorded = leasedRecorded };
        reply.Changed = await SettleObjectsAsync(objectSettlements, client, now, context.CancellationToken);
        if (commands.Count == 0)
        {
            await ReturnLeasesAsync(returnedLeases, client, now, context.CancellationToken);
            return reply;
        }

        // A reservation of a key outside the scope is left as it is, and counted as not changed: the reply does not
        // tell a guessed id that exists from one that does not. A commit far above its estimate, or above the key's
        // cap, is not trusted: it waits for an operator. One that fits but takes the day past the cap is settled and
        // reported (a price above its estimate): never silent.
        var results = await _store.SettleAsync(commands, client.Covers, now, _overruns.CapsOf, context.CancellationToken);
        _alerts.Settled(commands, results, now);
        var outOfScope = 0;
        for (var i = 0; i < results.Count; i++)
        {
            _overruns.Report(results[i]);
            _overruns.CountSettled(commands[i], results[i]);
            if (results[i].Status == SettleStatus.Held)
            {
                Log.SettlementHeld(_logger, commands[i].ReservationId, results[i].KeyId!, commands[i].ActualMicroUsd, results[i].EstimateMicroUsd);
            }
            else if (results[i].Status == SettleStatus.OutOfScope)
            {
                outOfScope++;
            }
        }

        if (outOfScope > 0)
        {
            Log.SettleOutOfScope(_logger, client.Id, outOfScope);
        }

        reply.Changed += results.Count(result => result.Status is SettleStatus.Settled or SettleStatus.Held);

        // Returned leases last: the calls decided on them are in by now.
        await ReturnLeasesAsync(returnedLeases, client, now, context.CancellationToken);
        return reply;
    }

    public override async Task<KeyStatusReply> GetKeyStatus(KeyStatusRequest request, ServerCallContext context)
    {
        RequestChecks.Batch(request.KeyIds.Count, "key_ids");
        foreach (var keyId in request.KeyIds)
        {
            InScope(context, keyId);
        }

        var revoked = await _store.GetRevokedAsync(request.KeyIds, context.CancellationToken);
        var reply = new KeyStatusReply();
        foreach (var keyId in request.KeyIds)
        {
            reply.Keys.Add(new KeyStatus { KeyId = keyId, Known = _keys.Find(keyId) is not null, Revoked = revoked.Contains(keyId) });
        }

        return reply;
    }

    public override async Task<FindObjectReply> FindObject(FindObjectRequest request, ServerCallContext context)
    {
        RequestChecks.Id(request.Vendor, "vendor");
        RequestChecks.Id(request.ObjectId, "object_id");
        RequestChecks.Id(request.KeyId, "key_id");
        InScope(context, request.KeyId);
        var found = await _store.FindObjectAsync(request.KeyId, request.Vendor, request.ObjectId, context.CancellationToken);
        return found is null ? new FindObjectReply() : new FindObjectReply { Found = true, Object = ToProtocol(found) };
    }

    public override async Task<RememberObjectsReply> RememberObjects(RememberObjectsRequest request, ServerCallContext context)
    {
        var objects = CheckedObjects(request, context);
        await _store.RememberObjectsAsync(request.KeyId, request.Vendor, objects, _time.GetUtcNow(), context.CancellationToken);
        return new RememberObjectsReply();
    }

    public override async Task<SubmitAuditReply> SubmitAudit(SubmitAuditRequest request, ServerCallContext context)
    {
        RequestChecks.Batch(request.Records.Count, "records");
        var client = ClientCredentialInterceptor.ClientOf(context);
        var records = new List<StoredAuditRecord>(request.Records.Count);
        foreach (var record in request.Records)
        {
            RequestChecks.Id(record.RecordId, "records.record_id");
            RequestChecks.Id(record.Decision, "records.decision");
            RequestChecks.Id(record.Host, "records.host", required: false);

            // A record for a key outside the scope refuses the whole batch: no client writes another's audit. A
            // record with no key (a brake key the guard did not know) is the submitting client's own. Either way
            // the service, not the client, says who submitted it.
            if (record.KeyId.Length > 0)
            {
                InScope(context, record.KeyId);
            }

            record.ClientId = client.Id;
            records.Add(new StoredAuditRecord(
                record.RecordId,
                RequestChecks.Timestamp(record.TimestampUnixMicros, "records.timestamp_unix_micros"),
                record.KeyId,
                record.Vendor,
                Empty(record.RunId),
                record.Decision,
                Empty(record.Reason),
                JsonFormatter.Default.Format(record),
                client.Id,
                Empty(record.Host)));
        }

        var stored = await _store.AppendAuditAsync(records, _time.GetUtcNow(), context.CancellationToken);
        _alerts.Audited(records);
        return new SubmitAuditReply { Stored = stored, Duplicates = records.Count - stored };
    }

    public override Task<VendorSecretReply> GetVendorSecret(GetVendorSecretRequest request, ServerCallContext context) => _secrets.DeliverAsync(request, context);

    public override Task<PingReply> Ping(PingRequest request, ServerCallContext context) => Task.FromResult(new PingReply());

    public override async Task<KeyPolicyReply> GetKeyPolicy(GetKeyPolicyRequest request, ServerCallContext context)
    {
        RequestChecks.Id(request.KeyId, "key_id");
        InScope(context, request.KeyId);
        var key = _keys.Find(request.KeyId) ?? throw RequestChecks.UnknownKey(request.KeyId);
        var revoked = await _store.GetRevokedAsync([key.Id], context.CancellationToken);
        return new KeyPolicyReply
        {
            KeyId = key.Id,
            Vendor = key.Vendor,
            Policy = key.Message,
            Version = key.PolicyVersion,
            Revoked = revoked.Contains(key.Id),
            BrakeKeySha256 = key.BrakeKeySha256 is null ? ByteString.Empty : ByteString.CopyFrom(key.BrakeKeySha256),
        };
    }

    /// <summary>
    /// Subscribes before reading the snapshot, so no change made in between is missed (one may arrive twice,
    /// which applying is harmless); then forwards events for the watched keys, with a heartbeat every second.
    /// Only keys in the credential's scope are watched. Revoking the credential sends the stream
    /// <c>CLIENT_REVOKED</c> and, once the process confirmed it (or the bound passed), ends the stream with
    /// <c>Unauthenticated</c>, so the process stops trusting its view and asks (and is refused). A replica that does not
    /// hear of the other replicas' changes (<see cref="ChangeFeed"/>) refuses the stream, and ends the ones it has, with
    /// <c>Unavailable</c>: their processes watch another replica, whose snapshot is complete.
    /// </summary>
    public override async Task WatchKeys(WatchKeysRequest request, IServerStreamWriter<KeyEvent> responseStream, ServerCallContext context)
    {
        RequestChecks.Batch(request.KeyIds.Count, "key_ids");
        var client = ClientCredentialInterceptor.ClientOf(context);
        foreach (var keyId in request.KeyIds)
        {
            InScope(context, keyId);
        }

        var watched = request.KeyIds.Count == 0 ? null : request.KeyIds.ToHashSet(StringComparer.Ordinal);
        using var subscription = _events.Subscribe(SubscriberNames.Of(request.SubscriberName, context.Peer), watched, client.Covers, client.Id);
        if (client.IsRevoked)
        {
            // Revoked while this stream was being opened, after its CLIENT_REVOKED went out: it never gets a snapshot.
            throw new RpcException(new Status(StatusCode.Unauthenticated, $"client credential '{client.Id}' is revoked"));
        }

        // Read after subscribing: a loss from here on ends the stream; one before refuses it.
        var listening = _feed.Listening ?? throw NotListening();

        // The stream never ends on its own: a stopping service ends it, rather than wait out the shutdown timeout
        // (30 s) for clients to hang up (they reconnect to the next instance and get a snapshot); so does revoking the
        // credential.
        using var streamEnds = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, client.Revocation, _lifetime.ApplicationStopping, listening);
        var cancellationToken = streamEnds.Token;

        // Writes do not take the revocation's token: gRPC resets the HTTP/2 stream (CANCEL) when a write's token fires
        // during the write, and the process would then see a cancelled stream instead of the refusal below. A write
        // under way when the credential is revoked finishes, and the stream then ends with the status.
        using var writesEnd = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, _lifetime.ApplicationStopping);
        var writeToken = writesEnd.Token;
        var heartbeat = new KeyEvent { Kind = KeyEventKind.Heartbeat };
        var reader = subscription.Events;
        try
        {
            var ids = watched?.ToList() ?? _keys.All.Select(key => key.Id).Where(client.Covers).ToList();
            var revoked = await _store.GetRevokedAsync(ids, cancellationToken);
            var snapshot = new KeyEvent { Kind = KeyEventKind.Snapshot, SubscriberId = subscription.Id };
            foreach (var id in ids)
            {
                var key = _keys.Find(id);
                snapshot.Keys.Add(new WatchedKey { KeyId = id, Known = key is not null, Revoked = revoked.Contains(id), PolicyVersion = key?.PolicyVersion ?? 0, SecretVersion = key?.SecretVersion ?? 0 });
            }

            await responseStream.WriteAsync(snapshot, writeToken);
            while (!cancellationToken.IsCancellationRequested)
            {
                // The heartbeat is about the network, not the budget's calendar: it runs on the system clock, as
                // the clients' deadlines do, so a test's fake clock cannot silence it.
                using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                wait.CancelAfter(s_heartbeat);
                bool more;
                try
                {
                    more = await reader.WaitToReadAsync(wait.Token);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    await responseStream.WriteAsync(heartbeat, writeToken);
                    continue;
                }

                if (!more)
                {
                    break;
                }

                // The hub sends a stream only the events for the keys it watches, within its credential's scope.
                while (reader.TryRead(out var keyEvent))
                {
                    await responseStream.WriteAsync(keyEvent, writeToken);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // the client went away, or the service is stopping, or the credential was revoked (below)
        }

        if (client.IsRevoked && !context.CancellationToken.IsCancellationRequested)
        {
            throw new RpcException(new Status(StatusCode.Unauthenticated, $"client credential '{client.Id}' is revoked"));
        }

        if (listening.IsCancellationRequested && !context.CancellationToken.IsCancellationRequested && !_lifetime.ApplicationStopping.IsCancellationRequested)
        {
            throw NotListening();
        }

        // A stopping service says so, rather than end the stream as if all were well: the process reconnects at once
        // (to another replica) instead of waiting for the silence of a missed heartbeat.
        if (_lifetime.ApplicationStopping.IsCancellationRequested && !context.CancellationToken.IsCancellationRequested)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, ShuttingDown));
        }
    }

    /// <summary>The status detail of the streams a stopping service ends.</summary>
    internal const string ShuttingDown = "the budget service is shutting down; watch another replica";

    private static RpcException NotListening() => new(new Status(
        StatusCode.Unavailable,
        "this replica does not hear of changes made through the other replicas just now (its database notification connection is down); watch another replica"));

    public override Task<AcknowledgeKeyEventsReply> AcknowledgeKeyEvents(AcknowledgeKeyEventsRequest request, ServerCallContext context)
    {
        RequestChecks.Id(request.SubscriberId, "subscriber_id");
        var client = ClientCredentialInterceptor.ClientOf(context);
        if (client.IsRevoked)
        {
            // All a revoked credential may do: confirm that its open stream applied the revocation.
            return _events.AcknowledgeRevocation(request.SubscriberId, request.Sequence, client.Id)
                ? Task.FromResult(new AcknowledgeKeyEventsReply { Known = true })
                : throw new RpcException(new Status(StatusCode.Unauthenticated, $"client credential '{client.Id}' is revoked"));
        }

        // A stream is confirmed only by the credential that opened it.
        return Task.FromResult(new AcknowledgeKeyEventsReply { Known = _events.Acknowledge(request.SubscriberId, request.Sequence, client.Id) });
    }

    internal static Protocol.VendorObject ToProtocol(StoredObject stored) => new()
    {
        Id = stored.Id,
        Kind = stored.Kind,
        Customer = stored.Customer ?? string.Empty,
        Account = stored.Account ?? string.Empty,
        Currency = stored.Currency ?? string.Empty,
        Amount = stored.Amount,
        AmountReturned = stored.AmountReturned,
    };

    private List<StoredObject> CheckedObjects(RememberObjectsRequest request, ServerCallContext context)
    {
        RequestChecks.Id(request.Vendor, "vendor");
        RequestChecks.Id(request.KeyId, "key_id");
        InScope(context, request.KeyId);
        RequestChecks.Batch(request.Objects.Count, "objects");
        var objects = new List<StoredObject>(request.Objects.Count);
        foreach (var item in request.Objects)
        {
            RequestChecks.Id(item.Id, "objects.id");
            objects.Add(new StoredObject(item.Id, item.Kind, Empty(item.Customer), Empty(item.Account), Empty(item.Currency), item.Amount, item.AmountReturned));
        }

        return objects;
    }

    private static string? Empty(string value) => value.Length == 0 ? null : value;

    /// <summary>Refuses (and logs) a call that names a key outside its credential's scope.</summary>
    private void InScope(ServerCallContext context, string keyId)
    {
        var client = ClientCredentialInterceptor.ClientOf(context);
        if (!client.Covers(keyId))
        {
            Log.OutOfScope(_logger, client.Id, context.Method, keyId.Length <= 64 ? keyId : keyId[..64] + "...");
            throw new RpcException(new Status(StatusCode.PermissionDenied, $"key '{(keyId.Length <= 64 ? keyId : keyId[..64] + "...")}' is outside the scope of client credential '{client.Id}'"));
        }
    }

    private static AuthorizeReply Reply(ServiceKey key, AuthorizeRequest request, DateOnly day, AuthorizeOutcome outcome)
    {
        var estimate = Usd.FromMicros(request.EstimateMicroUsd);
        var reply = new AuthorizeReply
        {
            Allowed = outcome.Allowed,
            // budget.proto: empty when denied, and for the replay of a settled call (there is nothing left to settle).
            ReservationId = outcome.Status is AuthorizeStatus.IdempotencyKeyReused or AuthorizeStatus.ReusedSettled ? string.Empty : outcome.ReservationId ?? string.Empty,
            Reuse = outcome.Status switch
            {
                AuthorizeStatus.ReusedPending => Protocol.ReservationReuse.Pending,
                AuthorizeStatus.ReusedSettled => Protocol.ReservationReuse.Settled,
                _ => Protocol.ReservationReuse.None,
            },
            DayRemainingMicroUsd = Math.Max(0, key.Policy.DailyCap.Micros - outcome.DaySpentMicroUsd),
        };

        (reply.Reason, reply.Message) = outcome.Status switch
        {
            AuthorizeStatus.Revoked => (ReasonCodes.KeyRevoked, $"key '{key.Id}' is revoked"),
            AuthorizeStatus.DailyCapExceeded => (ReasonCodes.DailyCapExceeded,
                $"the daily cap of {key.Policy.DailyCap} for key '{key.Id}' would be exceeded: {Usd.FromMicros(outcome.DaySpentMicroUsd)} already counts against {day:yyyy-MM-dd} and this call needs {estimate}"),
            AuthorizeStatus.RunCapExceeded when key.Policy.RunCapIncludesLlm => (ReasonCodes.RunCapExceeded,
                $"the run cap of {key.Policy.RunCap} for run '{request.RunId}' on key '{key.Id}' would be exceeded: {Usd.FromMicros(outcome.LlmSpentMicroUsd)} of LLM tokens and {Usd.FromMicros(outcome.RunSpentMicroUsd)} of this key's calls already count against it, and this call needs {estimate}"),
            AuthorizeStatus.RunCapExceeded => (ReasonCodes.RunCapExceeded,
                $"the per-run cap of {key.Policy.RunCap} for key '{key.Id}' would be exceeded: run '{request.RunId}' has {Usd.FromMicros(outcome.RunSpentMicroUsd)} counted and this call needs {estimate}"),
            AuthorizeStatus.IdempotencyKeyReused => (ReasonCodes.MalformedRequest,
                $"Idempotency-Key '{RequestChecks.Shown(request.IdempotencyKey)}' was already used for a different request; a retry must repeat the request exactly"),
            _ => (string.Empty, string.Empty),
        };
        return reply;
    }
}
