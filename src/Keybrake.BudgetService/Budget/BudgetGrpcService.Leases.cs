using System.Buffers.Binary;
using System.Globalization;
using Grpc.Core;
using Keybrake.BudgetService.Clients;
using Keybrake.BudgetService.Leases;
using Keybrake.BudgetService.Store;
using Keybrake.Protocol;

namespace Keybrake.BudgetService.Budget;

/// <summary>
/// Budget leases on the money path: the Lease RPC, the leased calls and returned leases a settlement carries, and the
/// recall of leases when a call is denied at a cap while other processes hold unused lease.
/// </summary>
internal sealed partial class BudgetGrpcService
{
    private readonly LeaseEvents _leases;
    private readonly TimeSpan _recallWait;

    // With replicas (PostgreSQL) a holder's stream may be open on another replica: it cannot be checked here.
    private readonly bool _replicated;

    public override async Task<LeaseReply> Lease(LeaseRequest request, ServerCallContext context)
    {
        RequestChecks.Id(request.KeyId, "key_id");
        RequestChecks.RunId(request.RunId);
        RequestChecks.Id(request.LeaseId, "lease_id");
        RequestChecks.Id(request.Holder, "holder", required: false);
        if (request.Sequence < 1)
        {
            throw RequestChecks.Invalid("sequence must be 1 or more");
        }

        RequestChecks.Amount(request.RequestedMicroUsd, "requested_micro_usd");
        if (request.RequestedMicroUsd == 0)
        {
            throw RequestChecks.Invalid("requested_micro_usd must be more than 0");
        }

        InScope(context, request.KeyId);
        var client = ClientCredentialInterceptor.ClientOf(context);
        var key = _keys.Find(request.KeyId) ?? throw RequestChecks.UnknownKey(request.KeyId);
        var now = _time.GetUtcNow();
        var day = DayWindow.DayOf(now, key.Policy.TimeZone);
        var reply = new LeaseReply { Day = day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture) };
        if (key.Policy.Lease.Enabled == false)
        {
            reply.Reason = LeaseReasons.NotLeasing;
            return reply;
        }

        // The holder is the process's key event stream, opened with this credential: a recall must be able to reach it.
        var stream = request.Holder.Length == 0 ? null : _events.Stream(request.Holder);
        if (request.Holder.Length == 0 || (stream is { } open ? open.ClientId != client.Id : !_replicated))
        {
            reply.Reason = LeaseReasons.NoStream;
            return reply;
        }

        var grant = await _store.GrantLeaseAsync(
            new LeaseCommand(
                request.LeaseId,
                request.Sequence,
                key.Id,
                request.RunId.Length == 0 ? null : request.RunId,
                client.Id,
                request.Holder,
                stream?.Name ?? request.Holder,
                request.RequestedMicroUsd,
                day,
                key.Policy.DailyCap.Micros,
                key.Policy.RunCap?.Micros,
                key.Policy.RunCapIncludesLlm,
                key.Policy.Lease.MaxSliceFor(key.Policy.DailyCap).Micros,
                key.Policy.Lease.Ttl,
                DayWindow.EndOf(day, key.Policy.TimeZone), // a lease never outlives its day
                now),
            context.CancellationToken);
        if (grant.Granted && client.IsRevoked)
        {
            // The credential was revoked while this grant was on its way to the store: the revocation's own void may
            // have run before it was stored. The credential is refused from before that void, so looking again now
            // (after the grant is stored) cannot miss it. On the service's token: the caller leaving must not keep
            // a lease that nobody can spend.
            await _leases.VoidCredentialLeasesAsync(client.Id, _lifetime.ApplicationStopping);
            grant = LeaseGrant.Refused(LeaseReasons.Revoked);
        }

        LeaseLog.Granted(_logger, request.LeaseId, key.Id, stream?.Name ?? request.Holder, grant.AmountMicroUsd, grant.Granted ? "granted" : grant.Reason);
        reply.Granted = grant.Granted;
        reply.GrantedMicroUsd = grant.AmountMicroUsd;
        reply.Reason = grant.Reason;
        if (grant.Granted)
        {
            reply.TtlMilliseconds = Math.Max(0, (long)(grant.ExpiresAt - now).TotalMilliseconds);
            reply.ExpiresAtUnixMicros = UnixMicros.From(grant.ExpiresAt);
        }

        return reply;
    }

    private List<LeasedCallCommand> CheckedLeasedCalls(SettleRequest request, ServerCallContext context)
    {
        RequestChecks.Batch(request.LeasedCalls.Count, "leased_calls");
        var calls = new List<LeasedCallCommand>(request.LeasedCalls.Count);
        foreach (var call in request.LeasedCalls)
        {
            RequestChecks.Id(call.LeaseId, "leased_calls.lease_id");
            RequestChecks.Id(call.ReservationId, "leased_calls.reservation_id");
            RequestChecks.Id(call.KeyId, "leased_calls.key_id");
            RequestChecks.Id(call.IdempotencyKey, "leased_calls.idempotency_key");
            RequestChecks.RunId(call.RunId);
            RequestChecks.Amount(call.EstimateMicroUsd, "leased_calls.estimate_micro_usd");
            if (call.RequestHash.Length != 16)
            {
                throw RequestChecks.Invalid("leased_calls.request_hash must be 16 bytes");
            }

            InScope(context, call.KeyId);
            calls.Add(new LeasedCallCommand(
                call.LeaseId,
                call.ReservationId,
                call.KeyId,
                call.RunId.Length == 0 ? null : call.RunId,
                call.IdempotencyKey,
                BinaryPrimitives.ReadUInt128LittleEndian(call.RequestHash.Span),
                call.EstimateMicroUsd,
                RequestChecks.Timestamp(call.DecidedAtUnixMicros, "leased_calls.decided_at_unix_micros")));
        }

        return calls;
    }

    private static List<string> CheckedReturnedLeases(SettleRequest request)
    {
        RequestChecks.Batch(request.ReturnedLeases.Count, "returned_leases");
        foreach (var leaseId in request.ReturnedLeases)
        {
            RequestChecks.Id(leaseId, "returned_leases");
        }

        return [.. request.ReturnedLeases];
    }

    private async Task<int> RecordLeasedCallsAsync(List<LeasedCallCommand> calls, ServiceClient client, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (calls.Count == 0)
        {
            return 0;
        }

        var stored = await _store.RecordLeasedCallsAsync(calls, client.Id, now, cancellationToken);
        var recorded = stored.Count(s => s);
        if (recorded < calls.Count)
        {
            LeaseLog.LeasedCallsIgnored(_logger, client.Id, calls.Count - recorded);
        }

        return recorded;
    }

    private async Task ReturnLeasesAsync(List<string> leaseIds, ServiceClient client, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (leaseIds.Count == 0)
        {
            return;
        }

        var ended = await _store.ReturnLeasesAsync(leaseIds, client.Id, now, cancellationToken);
        await _leases.ReturnedAsync(ended, "returned", cancellationToken);
    }

    /// <summary>
    /// A call denied at a cap while leases of the key (of the run, for a run cap) still hold unused budget: the service
    /// asks their holders to give it back, and tells the caller how long to wait for it before asking once more.
    /// </summary>
    private async Task<AuthorizeReply> RecallLeasesAsync(AuthorizeReply reply, string keyId, string runId, AuthorizeStatus status, CancellationToken cancellationToken)
    {
        var scope = status switch
        {
            AuthorizeStatus.DailyCapExceeded => string.Empty,
            AuthorizeStatus.RunCapExceeded => runId,
            _ => null,
        };
        if (scope is null || !await _store.HasOutstandingLeasesAsync(keyId, scope.Length == 0 ? null : scope, cancellationToken))
        {
            return reply;
        }

        await _leases.RecallAsync(keyId, scope, cancellationToken);
        reply.LeasesRecalled = true;
        reply.RecallWaitMilliseconds = (long)_recallWait.TotalMilliseconds;
        return reply;
    }
}
