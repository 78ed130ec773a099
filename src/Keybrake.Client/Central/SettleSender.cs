using System.Threading.Channels;
using Grpc.Core;
using Keybrake.Protocol;
using Microsoft.Extensions.Logging;

namespace Keybrake.Client;

/// <summary>
/// Sends settlements to the budget service off the request path, in batches. A settlement waits in memory
/// until the service has it, retried through outages; if the process dies first, its reservation stays
/// pending at the service and counts as spent, which is the safe way to lose it.
/// </summary>
internal sealed class SettleSender : IAsyncDisposable, IDisposable
{
    private const int MaxBatch = 500;
    private static readonly TimeSpan s_retryDelay = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan s_drainTimeout = TimeSpan.FromSeconds(5);

    private readonly Channel<Protocol.Settlement> _queue = Channel.CreateUnbounded<Protocol.Settlement>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Budget.BudgetClient _client;
    private readonly BudgetServiceResilience _resilience;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _loop;
    private long _inFlight;
    private int _disposed;

    public SettleSender(Budget.BudgetClient client, BudgetServiceResilience resilience, TimeProvider time, ILogger logger)
    {
        _client = client;
        _resilience = resilience;
        _time = time;
        _logger = logger;
        _loop = Task.Run(RunAsync);
    }

    /// <summary>Settlements queued or being sent.</summary>
    public long Pending => Interlocked.Read(ref _inFlight);

    public void Enqueue(Protocol.Settlement settlement)
    {
        Interlocked.Increment(ref _inFlight);
        if (!_queue.Writer.TryWrite(settlement))
        {
            Interlocked.Decrement(ref _inFlight);
            Log.SettlementDropped(_logger, settlement.ReservationId);
        }
    }

    /// <summary>Stops taking settlements and gives the queue a few seconds to reach the service.</summary>
    public async ValueTask DisposeAsync()
    {
        // The container may reach this object through two registrations; dispose once.
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        _queue.Writer.TryComplete();
        _stopping.CancelAfter(s_drainTimeout);
        try
        {
            await _loop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // drained as much as the service would take in time
        }

        _stopping.Dispose();
    }

    /// <summary>
    /// For containers disposed synchronously: stops at once, without waiting on the network. The reservations of
    /// settlements not yet sent stay pending at the service, counted as spent.
    /// </summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        _queue.Writer.TryComplete();
        if (Pending > 0)
        {
            Log.SettlementsLeftPending(_logger, (int)Pending);
        }

        _stopping.Cancel();
    }

    private async Task RunAsync()
    {
        var reader = _queue.Reader;
        var batch = new SettleRequest();
        while (await reader.WaitToReadAsync(CancellationToken.None).ConfigureAwait(false))
        {
            while (batch.Settlements.Count < MaxBatch && reader.TryRead(out var settlement))
            {
                batch.Settlements.Add(settlement);
            }

            await SendAsync(batch).ConfigureAwait(false);
            Interlocked.Add(ref _inFlight, -batch.Settlements.Count);
            batch = new SettleRequest();
        }
    }

    private async Task SendAsync(SettleRequest batch)
    {
        while (true)
        {
            try
            {
                await _resilience.ExecuteAsync(
                    async token => await _client.SettleAsync(batch, deadline: _resilience.Deadline(), cancellationToken: token).ConfigureAwait(false),
                    _stopping.Token).ConfigureAwait(false);
                return;
            }
            catch (Exception exception) when (BudgetServiceResilience.IsOutage(exception))
            {
                Log.BudgetServiceUnreachable(_logger, "Settle", exception.Message);
                if (_stopping.IsCancellationRequested)
                {
                    Log.SettlementsLeftPending(_logger, batch.Settlements.Count);
                    return; // shutting down: the reservations stay pending at the service, counted as spent
                }

                await Task.Delay(s_retryDelay, _time, _stopping.Token).ConfigureAwait(false);
            }
            catch (RpcException exception) when (exception.StatusCode == StatusCode.InvalidArgument)
            {
                Log.SettlementRejected(_logger, batch.Settlements.Count, exception.Status.Detail);
                return; // the service will never take it: holding it would block every settlement behind it
            }
        }
    }
}
