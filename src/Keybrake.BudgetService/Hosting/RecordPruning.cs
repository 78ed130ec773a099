using Keybrake.BudgetService.Clients;
using Keybrake.BudgetService.Store;
using Microsoft.Extensions.Options;

namespace Keybrake.BudgetService.Hosting;

/// <summary>
/// What the stores forget beside finished reservations, on the maintenance's hourly round: audit records past
/// <see cref="BudgetServiceOptions.AuditRetention"/> (when set), vendor objects past
/// <see cref="BudgetServiceOptions.ObjectRetention"/>, expired duty claims, and admin-issued credentials revoked
/// longer ago than <see cref="BudgetServiceOptions.RevokedClientRetention"/>, and previous vendor secrets whose rotation's
/// overlap window has closed.
/// </summary>
internal sealed class RecordPruning
{
    private readonly IBudgetStore _store;
    private readonly ClientRegistry _clients;
    private readonly TimeProvider _time;
    private readonly IOptionsMonitor<BudgetServiceOptions> _options;
    private readonly ILogger<RecordPruning> _logger;

    private readonly IKeyStore _keys;

    public RecordPruning(IBudgetStore store, IKeyStore keys, ClientRegistry clients, TimeProvider time, IOptionsMonitor<BudgetServiceOptions> options, ILogger<RecordPruning> logger)
    {
        _keys = keys;
        _store = store;
        _clients = clients;
        _time = time;
        _options = options;
        _logger = logger;
    }

    /// <summary>Prunes once; a failure is logged, never thrown (the next round tries again).</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        try
        {
            var options = _options.CurrentValue;
            var now = _time.GetUtcNow();
            var records = await _store.PruneRecordsAsync(new RecordCutoffs(now, now - options.AuditRetention, now - options.ObjectRetention), cancellationToken);
            var clients = await _clients.PruneRevokedAsync(now - options.RevokedClientRetention, cancellationToken);
            if (records.Total + clients > 0)
            {
                Log.PrunedRecords(_logger, records.AuditRecords, records.VendorObjects, records.DutyClaims, clients);
            }

            // A rotation's previous secret is erased once its overlap window closed (reads ignore it from then on anyway).
            var secrets = await _keys.PruneExpiredSecretsAsync(now, cancellationToken);
            if (secrets > 0)
            {
                Log.PreviousSecretsErased(_logger, secrets);
            }
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            Log.PruneRecordsFailed(_logger, exception);
        }
    }
}
