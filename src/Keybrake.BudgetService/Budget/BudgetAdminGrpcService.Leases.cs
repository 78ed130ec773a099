using System.Globalization;
using Grpc.Core;
using Keybrake.BudgetService.Leases;
using Keybrake.BudgetService.Store;
using Keybrake.Protocol;

namespace Keybrake.BudgetService.Budget;

/// <summary>Budget leases in the admin API: who holds how much of which key's budget, and what stranded leases hold.</summary>
internal sealed partial class BudgetAdminGrpcService
{
    private const int DefaultLeaseLimit = 100;
    private const int MaxLeaseLimit = 1000;

    private readonly LeaseEvents _leases;

    public override async Task<ListLeasesReply> ListLeases(ListLeasesRequest request, ServerCallContext context)
    {
        RequestChecks.Id(request.KeyId, "key_id", required: false);
        if (request.Limit is < 0 or > MaxLeaseLimit)
        {
            throw RequestChecks.Invalid($"limit must be between 0 (the default, {DefaultLeaseLimit}) and {MaxLeaseLimit}");
        }

        var keyId = request.KeyId.Length == 0 ? null : request.KeyId;
        var leases = await _store.ListLeasesAsync(keyId, request.IncludeEnded, request.Limit == 0 ? DefaultLeaseLimit : request.Limit, context.CancellationToken);
        var totals = await _store.GetLeaseTotalsAsync(context.CancellationToken);
        var reply = new ListLeasesReply();
        reply.Leases.AddRange(leases.Select(ToInfo));
        foreach (var (key, total) in totals)
        {
            if (keyId is null || key == keyId)
            {
                reply.OutstandingMicroUsd += total.OutstandingMicroUsd;
                reply.StrandedMicroUsd += total.StrandedMicroUsd;
            }
        }

        return reply;
    }

    /// <summary>The key's leased and stranded amounts on its info.</summary>
    private async Task<KeyInfo> WithLeasesAsync(KeyInfo info, CancellationToken cancellationToken)
    {
        await WithLeasesAsync([info], cancellationToken);
        return info;
    }

    private async Task WithLeasesAsync(IEnumerable<KeyInfo> infos, CancellationToken cancellationToken)
    {
        var totals = await _store.GetLeaseTotalsAsync(cancellationToken);
        foreach (var info in infos)
        {
            if (totals.TryGetValue(info.KeyId, out var total))
            {
                info.LeasedMicroUsd = total.OutstandingMicroUsd;
                info.StrandedMicroUsd = total.StrandedMicroUsd;
            }
        }
    }

    /// <summary>A revoked key's leases stop counting at once; their holders drop them on the REVOKED event.</summary>
    private async Task VoidLeasesAsync(string keyId, CancellationToken cancellationToken)
    {
        var voided = await _store.VoidLeasesAsync(keyId, _time.GetUtcNow(), cancellationToken);
        await _leases.ReturnedAsync(voided, "voided", cancellationToken);
    }

    private static LeaseInfo ToInfo(StoredLease lease) => new()
    {
        LeaseId = lease.LeaseId,
        KeyId = lease.KeyId,
        RunId = lease.RunId ?? string.Empty,
        ClientId = lease.ClientId,
        Holder = lease.HolderName,
        Day = lease.Day,
        GrantedMicroUsd = lease.GrantedMicroUsd,
        UsedMicroUsd = lease.UsedMicroUsd,
        OutstandingMicroUsd = lease.OutstandingMicroUsd,
        GrantedAt = Rfc3339(lease.GrantedAt),
        ExpiresAt = Rfc3339(lease.ExpiresAt),
        State = lease.State switch
        {
            LeaseState.Active => "active",
            LeaseState.Returned => "returned",
            LeaseState.Expired => "expired",
            _ => "voided",
        },
        Stranded = lease.Stranded,
        EndedAt = lease.EndedAt is { } ended ? Rfc3339(ended) : string.Empty,
    };

    private static string Rfc3339(DateTimeOffset moment) => moment.UtcDateTime.ToString("O", CultureInfo.InvariantCulture);
}
