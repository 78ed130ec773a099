using System.Buffers.Binary;
using System.Collections.Concurrent;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.ClientFactory;
using Keybrake.Protocol;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Keybrake.Client.Central;

/// <summary>
/// The ledger in central mode: the budget service holds the counters, so caps and revocation hold across
/// every process. Authorize is on the request path; settlements, and the vendor objects calls leave behind,
/// are batched off it.
/// </summary>
internal sealed class GrpcBudgetLedger : IBudgetLedger, IAsyncDisposable, IDisposable
{
    /// <summary>The service's longest id (<c>RequestChecks.MaxIdLength</c> in Keybrake.BudgetService).</summary>
    private const int MaxObjectIdLength = 256;

    /// <summary>The service's longest deferral refetch (<c>BudgetGrpcService.MaxRefetchLength</c>).</summary>
    private const int MaxRefetchLength = 2048;

    private readonly Budget.BudgetClient _client;
    private readonly BudgetServiceResilience _resilience;
    private readonly KeyWatcher _watcher;
    private readonly KeyStatusCache _keyStatus;
    private readonly ServiceKeyPolicies _policies;
    private readonly VaultSecrets _secrets;
    private readonly EmergencyAllowance _emergency;
    private readonly SettleSender _settlements;
    private readonly BudgetLeases _leases;
    private readonly IdGenerator _ids;
    private readonly ILogger<GrpcBudgetLedger> _logger;

    /// <summary>
    /// Objects remembered and not yet at the service, newest version of each. A refund right after its charge
    /// must find the charge: in this process it is found here until the service has it. (Another process
    /// finds it once the batch carrying it has reached the service, a few milliseconds later.)
    /// </summary>
    private readonly ConcurrentDictionary<(string KeyId, string Vendor, string Id), VendorObject> _unsent = new();

    /// <summary>The duties (such as a key's price reconciliation) this process holds, and as which holder.</summary>
    private readonly ConcurrentDictionary<(string KeyId, string Duty), string> _duties = new();

    public GrpcBudgetLedger(
        GrpcClientFactory clients,
        IOptions<KeybrakeBudgetServiceOptions> options,
        TimeProvider time,
        IdGenerator ids,
        AuditOutbox outbox,
        ReplicaHealth replicas,
        ILogger<GrpcBudgetLedger> logger)
    {
        var settings = options.Value;
        _client = clients.CreateClient<Budget.BudgetClient>(BudgetServiceClients.BudgetName);
        _resilience = new BudgetServiceResilience(settings);
        // Liveness of the stream is about the network, like the calls' deadlines: the system clock, whatever
        // clock the budget's days run on.
        _watcher = new KeyWatcher(_client, TimeProvider.System, settings.RevocationStaleness, logger, settings.ProcessName, replicas);
        _keyStatus = new KeyStatusCache(time, settings.KeyStatusCacheDuration, _watcher, logger);
        _policies = new ServiceKeyPolicies(_client, _resilience, _watcher, TimeProvider.System, settings.RevocationStaleness, logger);
        _secrets = new VaultSecrets(_client, _resilience, _watcher, logger);
        _emergency = new EmergencyAllowance(settings.EmergencyAllowance, ids);
        _settlements = new SettleSender(_client, _resilience, time, TimeProvider.System, SettleSender.DefaultLinger, ObjectsSent, logger, outbox.SetAsideSettlements);
        _leases = new BudgetLeases(_client, _resilience, _watcher, _settlements, ids, time, TimeProvider.System, logger);
        _ids = ids;
        _logger = logger;
    }

    /// <summary>The budget leases this process holds (tests look at their state).</summary>
    internal BudgetLeases Leases => _leases;

    /// <summary>Settlements not yet acknowledged by the service.</summary>
    internal long PendingSettlements => _settlements.Pending;

    /// <summary>The key event stream (tests look at its state).</summary>
    internal KeyWatcher Watcher => _watcher;

    /// <summary>The vendor secrets fetched from the service, in memory only (tests look at their state).</summary>
    internal VaultSecrets Secrets => _secrets;

    /// <summary>Whether this process holds the service's vendor secret for the key (tests look at it).</summary>
    internal bool HoldsSecret(string keyId) => _secrets.Holds(keyId);

    /// <summary>The sender of settlements (tests look at its state).</summary>
    internal SettleSender Settlements => _settlements;

    public ValueTask<KeyState> GetKeyStateAsync(string keyId, CancellationToken cancellationToken) =>
        _keyStatus.GetAsync(keyId, _client, _resilience, cancellationToken);

    public async ValueTask<KeyResolution> ResolveKeyAsync(ResolvedKey key, string brakeKey, CancellationToken cancellationToken)
    {
        var state = await _keyStatus.GetAsync(key.Id, _client, _resilience, cancellationToken).ConfigureAwait(false);
        if (state == KeyState.Revoked)
        {
            return new KeyResolution(state, key, _keyStatus.RefusalFor(key.Id) is { } refusal ? new GuardDenial(ReasonCodes.KeyRevoked, refusal) : null);
        }

        var (effective, denial) = await _policies.ResolveAsync(key, brakeKey, cancellationToken).ConfigureAwait(false);
        if (denial is not null || key.HasVendorSecret)
        {
            // A secret in the process's own configuration wins: the service is never asked for one.
            return new KeyResolution(state, effective ?? key, denial);
        }

        var (carrying, secretDenial) = await _secrets.ResolveAsync(effective ?? key, cancellationToken).ConfigureAwait(false);
        return new KeyResolution(state, carrying ?? key, secretDenial);
    }

    /// <summary>Whether the key event stream is open and current (tests and benchmarks wait for it).</summary>
    internal bool IsWatchingKeys => _watcher.IsCurrent;

    public async ValueTask<AuthorizationResult> AuthorizeAsync(AuthorizationRequest request, CancellationToken cancellationToken)
    {
        // Without the vendor's own idempotency key, one made for this call keeps the RPC's retries from reserving twice.
        var idempotencyKey = request.IdempotencyKey ?? _ids.New("call_");
        if (await _leases.TryDecideAsync(request, idempotencyKey, _policies.PolicyOf(request.KeyId), cancellationToken).ConfigureAwait(false) is { } leased)
        {
            return leased;
        }

        var hash = new byte[16];
        BinaryPrimitives.WriteUInt128LittleEndian(hash, request.RequestHash);
        var rpc = new AuthorizeRequest
        {
            KeyId = request.KeyId,
            RunId = request.RunId ?? string.Empty,
            IdempotencyKey = idempotencyKey,
            EstimateMicroUsd = request.Estimate.Micros,
            RequestHash = ByteString.CopyFrom(hash),
            SecretVersion = request.SecretVersion,
        };

        try
        {
            var returnsSeen = _leases.Returns.Seen(request.KeyId);
            var reply = await AskAuthorizeAsync(rpc, cancellationToken).ConfigureAwait(false);
            if (!reply.Allowed && reply.LeasesRecalled)
            {
                // Other processes hold unused lease of the key and were asked to give it back: once one has (or the
                // service's bound passed), the same call is asked for once more, with the same idempotency key.
                // Transport timing, like the calls' deadlines; bounded here too, whatever the service asks for.
                var wait = TimeSpan.FromMilliseconds(Math.Clamp(reply.RecallWaitMilliseconds, 0, 30_000));
                var waitStarted = TimeProvider.System.GetTimestamp();
                var returned = await _leases.Returns.WaitAsync(request.KeyId, returnsSeen, wait, TimeProvider.System, cancellationToken).ConfigureAwait(false);
                Log.RecallWaited(_logger, request.KeyId, (long)TimeProvider.System.GetElapsedTime(waitStarted).TotalMilliseconds, returned);
                reply = await AskAuthorizeAsync(rpc, cancellationToken).ConfigureAwait(false);
            }

            if (!reply.Allowed)
            {
                if (reply.Reason == ReasonCodes.SecretRotated && request.SecretVersion > 0)
                {
                    // The pipeline resolves the key again and asks once more: it must find the new secret.
                    _secrets.Rotated(request.KeyId, request.SecretVersion);
                }

                return AuthorizationResult.Denied(reply.Reason, reply.Message);
            }

            var reuse = reply.Reuse switch
            {
                Protocol.ReservationReuse.Pending => Client.ReservationReuse.Pending,
                Protocol.ReservationReuse.Settled => Client.ReservationReuse.Settled,
                _ => Client.ReservationReuse.None,
            };
            return AuthorizationResult.Allowed(reply.ReservationId.Length == 0 ? null : reply.ReservationId, reuse);
        }
        catch (RpcException exception) when (exception.StatusCode == StatusCode.NotFound)
        {
            return AuthorizationResult.Denied(ReasonCodes.KeyUnknown, exception.Status.Detail);
        }
        catch (RpcException exception) when (exception.StatusCode == StatusCode.InvalidArgument)
        {
            return AuthorizationResult.Denied(ReasonCodes.MalformedRequest, exception.Status.Detail);
        }
        catch (RpcException exception) when (BudgetServiceResilience.IsRefused(exception))
        {
            // Not an outage: the emergency allowance is for a service that cannot be reached, not one that says no.
            Log.BudgetServiceRefusedCredential(_logger, "Authorize", exception.Status.Detail);
            var denial = BudgetServiceResilience.RefusedDenial(request.KeyId, exception);
            return AuthorizationResult.Denied(denial.Reason, denial.Message);
        }
        catch (Exception exception) when (BudgetServiceResilience.IsOutage(exception))
        {
            Log.BudgetServiceUnreachable(_logger, "Authorize", exception.Message);
            if (_emergency.TryReserve(request.Estimate) is { } emergencyId)
            {
                Log.EmergencyAllowanceUsed(_logger, request.KeyId, request.Estimate.Micros, emergencyId);
                return AuthorizationResult.Allowed(
                    emergencyId,
                    Client.ReservationReuse.None,
                    "allowed on this process's emergency allowance: the budget service could not be reached");
            }

            return AuthorizationResult.Denied(
                ReasonCodes.BudgetServiceUnavailable,
                _emergency.IsEnabled
                    ? "the budget service cannot be reached and this process's emergency allowance is used up; calls that cost money fail closed"
                    : "the budget service cannot be reached; calls that cost money fail closed");
        }
        catch (Exception exception) when (!IsCallerCancellation(exception, cancellationToken))
        {
            // The service answered, but not with a decision (a refusal of this client, a method it does not
            // have), or something failed on the way. The emergency allowance is for a service that cannot be
            // reached, not for one that refuses: the call fails closed, in the vendor's shape like any denial.
            Log.BudgetServiceFailed(_logger, "Authorize", exception.GetType().Name, exception is RpcException refusal ? $"{refusal.StatusCode}: {refusal.Status.Detail}" : exception.Message);
            return AuthorizationResult.Denied(
                ReasonCodes.BudgetServiceUnavailable,
                "the budget service did not decide this call; calls that cost money fail closed");
        }
    }

    private async Task<AuthorizeReply> AskAuthorizeAsync(AuthorizeRequest rpc, CancellationToken cancellationToken) =>
        await _resilience.ExecuteAsync(
            async (deadline, token) => await _client.AuthorizeAsync(rpc, deadline: deadline, cancellationToken: token).ConfigureAwait(false),
            cancellationToken).ConfigureAwait(false);

    public ValueTask SettleAsync(IReadOnlyList<Settlement> settlements, CancellationToken cancellationToken)
    {
        foreach (var settlement in settlements)
        {
            if (!_emergency.TrySettle(settlement))
            {
                _leases.Settled(settlement.ReservationId, settlement.Kind == SettlementKind.Commit);
                _settlements.Enqueue(new Protocol.Settlement
                {
                    ReservationId = settlement.ReservationId,
                    Kind = settlement.Kind == SettlementKind.Commit ? Protocol.SettlementKind.Commit : Protocol.SettlementKind.Release,
                    ActualMicroUsd = settlement.Actual.Micros,
                });
            }
        }

        return ValueTask.CompletedTask;
    }

    public async ValueTask<VendorObject?> FindObjectAsync(string keyId, string vendor, string objectId, CancellationToken cancellationToken)
    {
        if (_unsent.TryGetValue((keyId, vendor, objectId), out var unsent))
        {
            return unsent;
        }

        try
        {
            var reply = await _resilience.ExecuteAsync(
                async (deadline, token) => await _client.FindObjectAsync(new FindObjectRequest { KeyId = keyId, Vendor = vendor, ObjectId = objectId }, deadline: deadline, cancellationToken: token).ConfigureAwait(false),
                cancellationToken).ConfigureAwait(false);

            // Remembered while the lookup was out: the newer version is the one on its way to the service.
            return _unsent.TryGetValue((keyId, vendor, objectId), out unsent) ? unsent : reply.Found ? FromProtocol(reply.Object) : null;
        }
        catch (RpcException exception) when (BudgetServiceResilience.IsRefused(exception))
        {
            // Unknown, as in an outage: the checks that need the object deny.
            Log.BudgetServiceRefusedCredential(_logger, "FindObject", exception.Status.Detail);
            return null;
        }
        catch (Exception exception) when (!IsCallerCancellation(exception, cancellationToken))
        {
            // Unknown: the checks that need the object deny, which is the safe side.
            Log.BudgetServiceUnreachable(_logger, "FindObject", exception.Message);
            return null;
        }
    }

    /// <summary>Only the caller's own cancellation reaches the caller as an exception; every other failure is an answer.</summary>
    private static bool IsCallerCancellation(Exception exception, CancellationToken cancellationToken) =>
        exception is OperationCanceledException && cancellationToken.IsCancellationRequested;

    /// <summary>Off the request path: the objects go with the next settlement batch, and are found here until then.</summary>
    public ValueTask RememberObjectsAsync(string keyId, string vendor, IReadOnlyList<VendorObject> objects, CancellationToken cancellationToken)
    {
        var sendable = new List<VendorObject>(objects.Count);
        foreach (var item in objects)
        {
            // The service refuses a batch with an id it cannot take, and the settlements in it with it.
            if (item.Id.Length is 0 or > MaxObjectIdLength)
            {
                Log.ObjectsDropped(_logger, 1);
                continue;
            }

            _unsent[(keyId, vendor, item.Id)] = item;
            sendable.Add(item);
        }

        if (sendable.Count > 0)
        {
            _settlements.EnqueueObjects(keyId, vendor, sendable);
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>Off the request path, in order with this process's settlements: the service maps the object to its reservation for every process of the key.</summary>
    public ValueTask RecordDeferralAsync(Deferral deferral, CancellationToken cancellationToken)
    {
        // The service refuses a batch with an id it cannot take, and the settlements in it with it.
        if (deferral.ObjectId.Length is 0 or > MaxObjectIdLength || deferral.ReservationId.Length is 0 or > MaxObjectIdLength || (deferral.Refetch?.Length ?? 0) > MaxRefetchLength)
        {
            Log.DeferralNotShared(_logger, deferral.Vendor, ShownValue.Of(deferral.ObjectId), deferral.KeyId, "an id or its refetch is too long for the service");
            return ValueTask.CompletedTask;
        }

        if (deferral.ReservationId.StartsWith(EmergencyAllowance.ReservationPrefix, StringComparison.Ordinal))
        {
            // A reservation of this process's emergency allowance: the service has never heard of it.
            Log.DeferralNotShared(_logger, deferral.Vendor, deferral.ObjectId, deferral.KeyId, "its reservation is on this process's emergency allowance");
            return ValueTask.CompletedTask;
        }

        _settlements.EnqueueDeferral(new Protocol.Deferral
        {
            KeyId = deferral.KeyId,
            Vendor = deferral.Vendor,
            ObjectId = deferral.ObjectId,
            ReservationId = deferral.ReservationId,
            Refetch = deferral.Refetch ?? string.Empty,
        });
        return ValueTask.CompletedTask;
    }

    /// <summary>Off the request path: the service settles the reservation the object's deferral names, once.</summary>
    public ValueTask SettleObjectAsync(ObjectSettlement settlement, CancellationToken cancellationToken)
    {
        if (settlement.ObjectId.Length is 0 or > MaxObjectIdLength)
        {
            return ValueTask.CompletedTask; // no deferral can have that id
        }

        _settlements.EnqueueObjectSettlement(new Protocol.ObjectSettlement
        {
            KeyId = settlement.KeyId,
            Vendor = settlement.Vendor,
            ObjectId = settlement.ObjectId,
            Kind = settlement.Kind == SettlementKind.Commit ? Protocol.SettlementKind.Commit : Protocol.SettlementKind.Release,
            ActualMicroUsd = settlement.Kind == SettlementKind.Commit ? settlement.Actual.Micros : 0,
        });
        return ValueTask.CompletedTask;
    }

    /// <summary>Claims, renews or (with a zero TTL) gives up a duty of one process per key; <see langword="true"/> when this holder has it.</summary>
    internal async ValueTask<bool> ClaimDutyAsync(string keyId, string duty, string holder, TimeSpan ttl, CancellationToken cancellationToken)
    {
        var reply = await _resilience.ExecuteAsync(
            async (deadline, token) => await _client.ClaimDutyAsync(
                new ClaimDutyRequest { KeyId = keyId, Duty = duty, Holder = holder, TtlMilliseconds = (long)ttl.TotalMilliseconds },
                deadline: deadline,
                cancellationToken: token).ConfigureAwait(false),
            cancellationToken).ConfigureAwait(false);
        if (reply.Granted)
        {
            _duties[(keyId, duty)] = holder;
        }
        else
        {
            _duties.TryRemove((keyId, duty), out _);
        }

        return reply.Granted;
    }

    /// <summary>
    /// Gives up the duties this process holds, so another process takes them over at once rather than after their TTL.
    /// Done here, as the ledger stops, because the ledger may be disposed before whatever claimed them.
    /// </summary>
    private async Task GiveUpDutiesAsync()
    {
        foreach (var ((keyId, duty), holder) in _duties)
        {
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2), TimeProvider.System); // transport timing
                await _resilience.ExecuteDirectAsync(
                    async (deadline, token) => await _client.ClaimDutyAsync(
                        new ClaimDutyRequest { KeyId = keyId, Duty = duty, Holder = holder, TtlMilliseconds = 0 },
                        deadline: deadline,
                        cancellationToken: token).ConfigureAwait(false),
                    timeout.Token).ConfigureAwait(false);
                Log.DutyGivenUp(_logger, duty, keyId);
            }
            catch (Exception exception)
            {
                Log.DutyNotGivenUp(_logger, duty, keyId, exception.Message);
            }
        }

        _duties.Clear();
    }

    /// <summary>The key's deferred objects still waiting for their price, deferred at least <paramref name="minAge"/> ago.</summary>
    internal async ValueTask<IReadOnlyList<DeferredObject>> ListDeferredAsync(string keyId, string vendor, TimeSpan minAge, int limit, CancellationToken cancellationToken)
    {
        var reply = await _resilience.ExecuteAsync(
            async (deadline, token) => await _client.ListDeferredAsync(
                new ListDeferredRequest { KeyId = keyId, Vendor = vendor, MinAgeMilliseconds = (long)minAge.TotalMilliseconds, Limit = limit },
                deadline: deadline,
                cancellationToken: token).ConfigureAwait(false),
            cancellationToken).ConfigureAwait(false);
        return reply.Objects
            .Select(item => new DeferredObject(item.ObjectId, item.ReservationId, Usd.FromMicros(item.EstimateMicroUsd), item.Refetch.Length == 0 ? null : item.Refetch))
            .ToList();
    }

    public async ValueTask DisposeAsync()
    {
        // The leases go back behind the calls decided on them, and the settlement sender's drain carries them.
        await _leases.DisposeAsync().ConfigureAwait(false);
        await GiveUpDutiesAsync().ConfigureAwait(false);
        await _watcher.DisposeAsync().ConfigureAwait(false);
        await _settlements.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>For containers disposed synchronously: settlements not yet sent are left pending, counted as spent.</summary>
    public void Dispose()
    {
        _leases.Dispose();
        _watcher.Stop();
        _settlements.Dispose();
    }

    /// <summary>The service has these (or refused them for good): lookups go to it again, unless a newer version is on its way.</summary>
    private void ObjectsSent(string keyId, string vendor, IReadOnlyList<VendorObject> objects)
    {
        foreach (var item in objects)
        {
            _unsent.TryRemove(new KeyValuePair<(string, string, string), VendorObject>((keyId, vendor, item.Id), item));
        }
    }

    private static VendorObject FromProtocol(Protocol.VendorObject item) => new(item.Id, item.Kind)
    {
        Customer = item.Customer.Length == 0 ? null : item.Customer,
        Account = item.Account.Length == 0 ? null : item.Account,
        Currency = item.Currency.Length == 0 ? null : item.Currency,
        Amount = item.Amount,
        AmountReturned = item.AmountReturned,
    };
}
