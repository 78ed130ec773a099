using Keybrake.BudgetService.Store;
using Microsoft.Extensions.Options;

namespace Keybrake.BudgetService.Leases;

/// <summary>
/// Ends leases past their expiry (their TTL, or their day's end), freeing what they still held, and tells the streams.
/// On the service's clock, so a test's clock drives it. Every replica sweeps: a lease ends once, in the transaction of
/// whichever gets to it, and only that one announces it.
/// </summary>
internal sealed class LeaseSweeper : BackgroundService
{
    private readonly IBudgetStore _store;
    private readonly LeaseEvents _events;
    private readonly TimeProvider _time;
    private readonly IOptions<LeaseServiceOptions> _options;
    private readonly ILogger<LeaseSweeper> _logger;

    public LeaseSweeper(IBudgetStore store, LeaseEvents events, TimeProvider time, IOptions<LeaseServiceOptions> options, ILogger<LeaseSweeper> logger)
    {
        _store = store;
        _events = events;
        _time = time;
        _options = options;
        _logger = logger;
    }

    /// <summary>One sweep: ends what is due now.</summary>
    public async Task<int> SweepAsync(CancellationToken cancellationToken)
    {
        var ended = await _store.ExpireLeasesAsync(_time.GetUtcNow(), cancellationToken);
        await _events.ReturnedAsync(ended, "expired", cancellationToken);
        return ended.Count;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(_options.Value.SweepInterval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    await SweepAsync(stoppingToken);
                }
                catch (Exception exception) when (exception is not OperationCanceledException)
                {
                    LeaseLog.SweepFailed(_logger, exception);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // stopping
        }
    }
}
