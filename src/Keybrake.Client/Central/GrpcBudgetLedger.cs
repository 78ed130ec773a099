using System.Buffers.Binary;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.ClientFactory;
using Keybrake.Protocol;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Keybrake.Client;

/// <summary>
/// The ledger in central mode: the budget service holds the counters, so caps and revocation hold across
/// every process. Authorize is on the request path; settlements are batched off it.
/// </summary>
internal sealed class GrpcBudgetLedger : IBudgetLedger, IAsyncDisposable, IDisposable
{
    private readonly Budget.BudgetClient _client;
    private readonly BudgetServiceResilience _resilience;
    private readonly KeyWatcher _watcher;
    private readonly KeyStatusCache _keyStatus;
    private readonly ServiceKeyPolicies _policies;
    private readonly EmergencyAllowance _emergency;
    private readonly SettleSender _settlements;
    private readonly IdGenerator _ids;
    private readonly ILogger<GrpcBudgetLedger> _logger;

    public GrpcBudgetLedger(
        GrpcClientFactory clients,
        IOptions<KeybrakeOptions> options,
        TimeProvider time,
        IdGenerator ids,
        ILogger<GrpcBudgetLedger> logger)
    {
        var settings = options.Value.BudgetService;
        _client = clients.CreateClient<Budget.BudgetClient>(BudgetServiceClients.BudgetName);
        _resilience = new BudgetServiceResilience(settings);
        // Liveness of the stream is about the network, like the calls' deadlines: the system clock, whatever
        // clock the budget's days run on.
        _watcher = new KeyWatcher(_client, TimeProvider.System, settings.RevocationStaleness, logger);
        _keyStatus = new KeyStatusCache(time, settings.KeyStatusCacheDuration, _watcher, logger);
        _policies = new ServiceKeyPolicies(_client, _resilience, _watcher, TimeProvider.System, settings.RevocationStaleness, logger);
        _emergency = new EmergencyAllowance(settings.EmergencyAllowance, ids);
        _settlements = new SettleSender(_client, _resilience, time, logger);
        _ids = ids;
        _logger = logger;
    }

    /// <summary>Settlements not yet acknowledged by the service.</summary>
    internal long PendingSettlements => _settlements.Pending;

    public ValueTask<KeyState> GetKeyStateAsync(string keyId, CancellationToken cancellationToken) =>
        _keyStatus.GetAsync(keyId, _client, _resilience, cancellationToken);

    public async ValueTask<KeyResolution> ResolveKeyAsync(ResolvedKey key, string brakeKey, CancellationToken cancellationToken)
    {
        var state = await _keyStatus.GetAsync(key.Id, _client, _resilience, cancellationToken).ConfigureAwait(false);
        if (state == KeyState.Revoked)
        {
            return new KeyResolution(state, key, null);
        }

        var (effective, denial) = await _policies.ResolveAsync(key, brakeKey, cancellationToken).ConfigureAwait(false);
        return new KeyResolution(state, effective ?? key, denial);
    }

    /// <summary>Whether the key event stream is open and current (tests and benchmarks wait for it).</summary>
    internal bool IsWatchingKeys => _watcher.IsCurrent;

    public async ValueTask<AuthorizationResult> AuthorizeAsync(AuthorizationRequest request, CancellationToken cancellationToken)
    {
        var hash = new byte[16];
        BinaryPrimitives.WriteUInt128LittleEndian(hash, request.RequestHash);
        var rpc = new AuthorizeRequest
        {
            KeyId = request.KeyId,
            RunId = request.RunId ?? string.Empty,

            // Without the vendor's own idempotency key, one made for this call keeps the RPC's retries from reserving twice.
            IdempotencyKey = request.IdempotencyKey ?? _ids.New("call_"),
            EstimateMicroUsd = request.Estimate.Micros,
            RequestHash = ByteString.CopyFrom(hash),
        };

        try
        {
            var reply = await _resilience.ExecuteAsync(
                async token => await _client.AuthorizeAsync(rpc, deadline: _resilience.Deadline(), cancellationToken: token).ConfigureAwait(false),
                cancellationToken).ConfigureAwait(false);
            if (!reply.Allowed)
            {
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
    }

    public ValueTask SettleAsync(IReadOnlyList<Settlement> settlements, CancellationToken cancellationToken)
    {
        foreach (var settlement in settlements)
        {
            if (!_emergency.TrySettle(settlement))
            {
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

    public async ValueTask<VendorObject?> FindObjectAsync(string vendor, string objectId, CancellationToken cancellationToken)
    {
        try
        {
            var reply = await _resilience.ExecuteAsync(
                async token => await _client.FindObjectAsync(new FindObjectRequest { Vendor = vendor, ObjectId = objectId }, deadline: _resilience.Deadline(), cancellationToken: token).ConfigureAwait(false),
                cancellationToken).ConfigureAwait(false);
            return reply.Found ? FromProtocol(reply.Object) : null;
        }
        catch (Exception exception) when (BudgetServiceResilience.IsOutage(exception))
        {
            // Unknown: the checks that need the object deny, which is the safe side.
            Log.BudgetServiceUnreachable(_logger, "FindObject", exception.Message);
            return null;
        }
    }

    public async ValueTask RememberObjectsAsync(string vendor, IReadOnlyList<VendorObject> objects, CancellationToken cancellationToken)
    {
        var request = new RememberObjectsRequest { Vendor = vendor };
        foreach (var item in objects)
        {
            request.Objects.Add(new Protocol.VendorObject
            {
                Id = item.Id,
                Kind = item.Kind,
                Customer = item.Customer ?? string.Empty,
                Account = item.Account ?? string.Empty,
                Currency = item.Currency ?? string.Empty,
                Amount = item.Amount,
                AmountReturned = item.AmountReturned,
            });
        }

        try
        {
            await _resilience.ExecuteAsync(
                async token => await _client.RememberObjectsAsync(request, deadline: _resilience.Deadline(), cancellationToken: token).ConfigureAwait(false),
                cancellationToken).ConfigureAwait(false);
        }
        catch (Exception exception) when (BudgetServiceResilience.IsOutage(exception))
        {
            // A refund of this object will find it unknown and fall back to the per-request maximum or a denial.
            Log.BudgetServiceUnreachable(_logger, "RememberObjects", exception.Message);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _watcher.DisposeAsync().ConfigureAwait(false);
        await _settlements.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>For containers disposed synchronously: settlements not yet sent are left pending, counted as spent.</summary>
    public void Dispose()
    {
        _watcher.Stop();
        _settlements.Dispose();
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
