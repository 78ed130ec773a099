using Keybrake.BudgetService.Clients;
using Keybrake.BudgetService.Keys;
using Keybrake.BudgetService.Replicas;
using Keybrake.BudgetService.Store;
using Microsoft.Extensions.Options;

namespace Keybrake.BudgetService.Hosting;

/// <summary>
/// Opens the store and loads the keys and client credentials before the service takes calls, and hourly forgets finished
/// reservations past the idempotency window and the rest of what no call needs (<see cref="RecordPruning"/>), one
/// replica per cycle (see <see cref="IClusterDuties"/>).
/// </summary>
internal sealed class StoreMaintenance : BackgroundService
{
    /// <summary>The name pruning goes by among the cluster's duties.</summary>
    public const string PruneDuty = "prune";

    private static readonly TimeSpan s_interval = TimeSpan.FromHours(1);

    private readonly IBudgetStore _store;
    private readonly KeyRegistry _keys;
    private readonly ClientRegistry _clients;
    private readonly RecordPruning _records;
    private readonly TimeProvider _time;
    private readonly IOptionsMonitor<BudgetServiceOptions> _options;
    private readonly ILogger<StoreMaintenance> _logger;
    private readonly IClusterDuties _duties;
    private readonly Vault.SecretVault _vault;
    private readonly IKeyStore _keyStore;

    public StoreMaintenance(IBudgetStore store, KeyRegistry keys, ClientRegistry clients, RecordPruning records, TimeProvider time, IOptionsMonitor<BudgetServiceOptions> options, IClusterDuties duties, Vault.SecretVault vault, IKeyStore keyStore, ILogger<StoreMaintenance> logger)
    {
        _vault = vault;
        _keyStore = keyStore;
        _duties = duties;
        _store = store;
        _keys = keys;
        _clients = clients;
        _records = records;
        _time = time;
        _options = options;
        _logger = logger;
    }

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        await _store.MigrateAsync(cancellationToken);

        // Before any call: a store whose secrets this service cannot open (a wrong master key) does not start.
        await _vault.CheckStoreAsync(_keyStore, cancellationToken);
        await _keys.LoadAsync(cancellationToken);
        await _clients.LoadAsync(cancellationToken);
        await base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(s_interval, _time);
        try
        {
            do
            {
                try
                {
                    // Once per cluster and cycle: replicas on one PostgreSQL take turns (IClusterDuties).
                    await _duties.TryRunAsync(PruneDuty, s_interval, async cancellationToken =>
                    {
                        var pruned = await _store.PruneFinishedAsync(_time.GetUtcNow() - _options.CurrentValue.IdempotencyRetention, cancellationToken);
                        if (pruned > 0)
                        {
                            Log.Pruned(_logger, pruned);
                        }

                        await _records.RunAsync(cancellationToken);
                    }, stoppingToken);
                }
                catch (Exception exception) when (exception is not OperationCanceledException)
                {
                    Log.PruneFailed(_logger, exception);
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // shutting down
        }
    }
}
