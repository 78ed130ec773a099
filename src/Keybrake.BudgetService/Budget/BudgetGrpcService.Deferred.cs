using System.Globalization;
using Grpc.Core;
using Keybrake.BudgetService.Clients;
using Keybrake.BudgetService.Store;
using Keybrake.Protocol;

namespace Keybrake.BudgetService.Budget;

/// <summary>
/// Deferred objects (a Twilio message whose price comes later): recorded with the sender's settlements, settled by a
/// price any process of the key reports, listed for the process elected to reconcile them; and the duty claims that
/// elect it. A client acts only on the keys in its scope: another key's deferral is not recorded, another key's object
/// is not settled (both look like an unknown object), and listing another key's is <c>PermissionDenied</c>.
/// </summary>
internal sealed partial class BudgetGrpcService
{
    /// <summary>The longest <c>refetch</c> the service stores.</summary>
    public const int MaxRefetchLength = 2048;

    /// <summary>The longest a duty may be claimed for at once.</summary>
    public static readonly TimeSpan MaxDutyTtl = TimeSpan.FromDays(1);

    private const int DefaultListLimit = 100;
    private const int MaxListLimit = 1_000;

    public override async Task<ListDeferredReply> ListDeferred(ListDeferredRequest request, ServerCallContext context)
    {
        RequestChecks.Id(request.KeyId, "key_id");
        RequestChecks.Id(request.Vendor, "vendor");
        if (request.MinAgeMilliseconds < 0 || request.MinAgeMilliseconds > (long)MaxDutyTtl.TotalMilliseconds)
        {
            throw RequestChecks.Invalid(string.Create(CultureInfo.InvariantCulture, $"min_age_milliseconds must be between 0 and {(long)MaxDutyTtl.TotalMilliseconds}"));
        }

        if (request.Limit is < 0 or > MaxListLimit)
        {
            throw RequestChecks.Invalid($"limit must be between 1 and {MaxListLimit} (0 for {DefaultListLimit})");
        }

        InScope(context, request.KeyId);
        var before = _time.GetUtcNow() - TimeSpan.FromMilliseconds(request.MinAgeMilliseconds);
        var listed = await _store.ListDeferredAsync(request.KeyId, request.Vendor, before, request.Limit == 0 ? DefaultListLimit : request.Limit, context.CancellationToken);
        var reply = new ListDeferredReply();
        foreach (var item in listed)
        {
            reply.Objects.Add(new DeferredObject
            {
                ObjectId = item.ObjectId,
                ReservationId = item.ReservationId,
                EstimateMicroUsd = item.EstimateMicroUsd,
                Refetch = item.Refetch,
                DeferredAtUnixMicros = item.DeferredAt.ToUnixTimeMilliseconds() * 1_000,
            });
        }

        return reply;
    }

    public override async Task<ClaimDutyReply> ClaimDuty(ClaimDutyRequest request, ServerCallContext context)
    {
        RequestChecks.Id(request.KeyId, "key_id");
        RequestChecks.Id(request.Duty, "duty");
        RequestChecks.Id(request.Holder, "holder");
        if (request.TtlMilliseconds < 0 || request.TtlMilliseconds > (long)MaxDutyTtl.TotalMilliseconds)
        {
            throw RequestChecks.Invalid(string.Create(CultureInfo.InvariantCulture, $"ttl_milliseconds must be between 0 (give the duty up) and {(long)MaxDutyTtl.TotalMilliseconds} (one day)"));
        }

        InScope(context, request.KeyId);
        var now = _time.GetUtcNow();
        var claim = await _store.ClaimDutyAsync(request.KeyId, request.Duty, request.Holder, now, TimeSpan.FromMilliseconds(request.TtlMilliseconds), context.CancellationToken);
        return new ClaimDutyReply
        {
            Granted = string.Equals(claim.Holder, request.Holder, StringComparison.Ordinal) && claim.ExpiresAt > now,
            Holder = claim.Holder,
            ExpiresAtUnixMicros = claim.ExpiresAt.ToUnixTimeMilliseconds() * 1_000,
        };
    }

    /// <summary>Checks every deferral's fields before anything is applied: one bad field refuses the request, naming it.</summary>
    private static List<DeferralCommand> CheckedDeferrals(SettleRequest request)
    {
        RequestChecks.Batch(request.Deferrals.Count, "deferrals");
        var commands = new List<DeferralCommand>(request.Deferrals.Count);
        foreach (var deferral in request.Deferrals)
        {
            RequestChecks.Id(deferral.KeyId, "deferrals.key_id");
            RequestChecks.Id(deferral.Vendor, "deferrals.vendor");
            RequestChecks.Id(deferral.ObjectId, "deferrals.object_id");
            RequestChecks.Id(deferral.ReservationId, "deferrals.reservation_id");
            if (deferral.Refetch.Length > MaxRefetchLength)
            {
                throw RequestChecks.Invalid($"deferrals.refetch is longer than {MaxRefetchLength} characters");
            }

            commands.Add(new DeferralCommand(deferral.KeyId, deferral.Vendor, deferral.ObjectId, deferral.ReservationId, deferral.Refetch));
        }

        return commands;
    }

    private static List<ObjectSettleCommand> CheckedObjectSettlements(SettleRequest request)
    {
        RequestChecks.Batch(request.ObjectSettlements.Count, "object_settlements");
        var commands = new List<ObjectSettleCommand>(request.ObjectSettlements.Count);
        foreach (var settlement in request.ObjectSettlements)
        {
            RequestChecks.Id(settlement.KeyId, "object_settlements.key_id");
            RequestChecks.Id(settlement.Vendor, "object_settlements.vendor");
            RequestChecks.Id(settlement.ObjectId, "object_settlements.object_id");
            RequestChecks.Amount(settlement.ActualMicroUsd, "object_settlements.actual_micro_usd");
            commands.Add(new ObjectSettleCommand(settlement.KeyId, settlement.Vendor, settlement.ObjectId, settlement.Kind == Protocol.SettlementKind.Commit, settlement.ActualMicroUsd));
        }

        return commands;
    }

    /// <summary>Stores the deferrals of keys in the client's scope; another key's are skipped (and logged), like its settlements.</summary>
    private async Task<int> RecordDeferralsAsync(List<DeferralCommand> deferrals, ServiceClient client, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (deferrals.Count == 0)
        {
            return 0;
        }

        var inScope = deferrals.Where(deferral => client.Covers(deferral.KeyId)).ToList();
        if (inScope.Count < deferrals.Count)
        {
            Log.DeferralsOutOfScope(_logger, client.Id, deferrals.Count - inScope.Count);
        }

        if (inScope.Count == 0)
        {
            return 0;
        }

        var stored = await _store.RecordDeferralsAsync(inScope, client.Id, now, cancellationToken);
        return stored.Count(recorded => recorded);
    }

    /// <summary>Settles by object; returns how many reservations changed. Another key's objects are not touched.</summary>
    private async Task<int> SettleObjectsAsync(List<ObjectSettleCommand> settlements, ServiceClient client, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (settlements.Count == 0)
        {
            return 0;
        }

        var results = await _store.SettleObjectsAsync(settlements, client.Covers, now, _overruns.CapsOf, cancellationToken);
        var outOfScope = 0;
        var changed = 0;
        for (var i = 0; i < results.Count; i++)
        {
            // A price reported by object is where a Twilio message most often settles above its estimate.
            _overruns.Report(results[i]);
            switch (results[i].Status)
            {
                case SettleStatus.Settled:
                    changed++;
                    Log.DeferredObjectSettled(_logger, settlements[i].Vendor, settlements[i].ObjectId, results[i].KeyId!, settlements[i].Commit ? settlements[i].ActualMicroUsd : 0, results[i].EstimateMicroUsd);
                    break;
                case SettleStatus.Held:
                    changed++;
                    Log.DeferredObjectHeld(_logger, settlements[i].Vendor, settlements[i].ObjectId, results[i].KeyId!, settlements[i].ActualMicroUsd, results[i].EstimateMicroUsd);
                    break;
                case SettleStatus.OutOfScope:
                    outOfScope++;
                    break;
            }
        }

        if (outOfScope > 0)
        {
            Log.SettleOutOfScope(_logger, client.Id, outOfScope);
        }

        return changed;
    }
}
