using System.Threading.Channels;
using Grpc.Core;
using Keybrake.Protocol;
using Microsoft.Extensions.Logging;

namespace Keybrake.Client;

/// <summary>
/// Sends settlements, and the vendor objects calls leave behind, to the budget service off the request path,
/// in batches. A settlement waits in memory until the service has it, retried through outages; if the
/// process dies first, its reservation stays pending at the service and counts as spent, which is the safe
/// way to lose it. The sender lingers a moment before sending a batch that is not full, so that callers
/// finishing at about the same time share one request and one store transaction.
/// </summary>
internal sealed class SettleSender : IAsyncDisposable, IDisposable
{
    private const int MaxBatch = 500;

    /// <summary>How long a batch that is not full waits for company.</summary>
    public static readonly TimeSpan DefaultLinger = TimeSpan.FromMilliseconds(2);

    private static readonly TimeSpan s_retryDelay = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan s_drainTimeout = TimeSpan.FromSeconds(5);

    private readonly Channel<Outgoing> _queue = Channel.CreateUnbounded<Outgoing>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Budget.BudgetClient _client;
    private readonly BudgetServiceResilience _resilience;
    private readonly TimeProvider _time;
    private readonly TimeProvider _transportTime;
    private readonly TimeSpan _linger;
    private readonly Action<string, string, IReadOnlyList<VendorObject>>? _objectsSent;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _loop;
    private long _inFlight;
    private int _disposed;

    /// <param name="client">The budget service.</param>
    /// <param name="resilience">Deadlines, retries and the breaker.</param>
    /// <param name="time">The guard's clock.</param>
    /// <param name="transportTime">The clock of the linger: transport timing, the system's outside tests.</param>
    /// <param name="linger">How long a batch that is not full waits; zero sends at once.</param>
    /// <param name="objectsSent">Told of objects once the service has them (or has refused them for good).</param>
    /// <param name="logger">The ledger's logger.</param>
    public SettleSender(
        Budget.BudgetClient client,
        BudgetServiceResilience resilience,
        TimeProvider time,
        TimeProvider transportTime,
        TimeSpan linger,
        Action<string, string, IReadOnlyList<VendorObject>>? objectsSent,
        ILogger logger)
    {
        _client = client;
        _resilience = resilience;
        _time = time;
        _transportTime = transportTime;
        _linger = linger;
        _objectsSent = objectsSent;
        _logger = logger;
        _loop = Task.Run(RunAsync);
    }

    /// <summary>Settlements and objects queued or being sent.</summary>
    public long Pending => Interlocked.Read(ref _inFlight);

    public void Enqueue(Protocol.Settlement settlement)
    {
        if (!TryEnqueue(new Outgoing(settlement, null, null, null)))
        {
            Log.SettlementDropped(_logger, settlement.ReservationId);
        }
    }

    /// <summary>Queues objects to remember; they go with the next batch of settlements.</summary>
    public void EnqueueObjects(string keyId, string vendor, IReadOnlyList<VendorObject> objects)
    {
        if (!TryEnqueue(new Outgoing(null, keyId, vendor, objects)))
        {
            Log.ObjectsDropped(_logger, objects.Count);
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

    private bool TryEnqueue(Outgoing item)
    {
        Interlocked.Increment(ref _inFlight);
        if (_queue.Writer.TryWrite(item))
        {
            return true;
        }

        Interlocked.Decrement(ref _inFlight);
        return false;
    }

    private async Task RunAsync()
    {
        var reader = _queue.Reader;
        var objects = new List<(string KeyId, string Vendor, List<VendorObject> Objects)>();
        while (await reader.WaitToReadAsync(CancellationToken.None).ConfigureAwait(false))
        {
            // Between batches everything in flight is queued: a full batch goes at once.
            if (_linger > TimeSpan.Zero && Pending < MaxBatch)
            {
                await Task.Delay(_linger, _transportTime, CancellationToken.None).ConfigureAwait(false);
            }

            var batch = new SettleRequest();
            var items = 0;
            while (items < MaxBatch && reader.TryRead(out var item))
            {
                items++;
                if (item.Settlement is { } settlement)
                {
                    batch.Settlements.Add(settlement);
                }
                else
                {
                    Group(objects, item.KeyId!, item.Vendor!, item.Objects!);
                }
            }

            foreach (var (keyId, vendor, group) in objects)
            {
                batch.Objects.Add(ToProtocol(keyId, vendor, group));
            }

            await SendAsync(batch).ConfigureAwait(false);
            foreach (var (keyId, vendor, group) in objects)
            {
                _objectsSent?.Invoke(keyId, vendor, group);
            }

            objects.Clear();
            Interlocked.Add(ref _inFlight, -items);
        }
    }

    /// <summary>One group per key and vendor, in the order they came: one store operation each at the service.</summary>
    private static void Group(List<(string KeyId, string Vendor, List<VendorObject> Objects)> groups, string keyId, string vendor, IReadOnlyList<VendorObject> objects)
    {
        foreach (var (existingKey, existing, group) in groups)
        {
            if (string.Equals(existingKey, keyId, StringComparison.Ordinal) && string.Equals(existing, vendor, StringComparison.Ordinal))
            {
                group.AddRange(objects);
                return;
            }
        }

        groups.Add((keyId, vendor, [.. objects]));
    }

    private static RememberObjectsRequest ToProtocol(string keyId, string vendor, List<VendorObject> objects)
    {
        var request = new RememberObjectsRequest { KeyId = keyId, Vendor = vendor };
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

        return request;
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
                    ObjectsDropped(batch);
                    return; // shutting down: the reservations stay pending at the service, counted as spent
                }

                await Task.Delay(s_retryDelay, _time, _stopping.Token).ConfigureAwait(false);
            }
            catch (RpcException exception) when (exception.StatusCode is StatusCode.InvalidArgument or StatusCode.PermissionDenied or StatusCode.Unauthenticated)
            {
                // Refused for good (bad input, or a credential revoked or out of scope): the reservations stay
                // pending at the service, counted as spent, for an operator to resolve.
                Log.SettlementRejected(_logger, batch.Settlements.Count, exception.Status.Detail);
                ObjectsDropped(batch);
                return; // the service will never take it: holding it would block every settlement behind it
            }
        }
    }

    private void ObjectsDropped(SettleRequest batch)
    {
        var count = batch.Objects.Sum(group => group.Objects.Count);
        if (count > 0)
        {
            Log.ObjectsDropped(_logger, count);
        }
    }

    /// <summary>A settlement, or objects to remember.</summary>
    private readonly record struct Outgoing(Protocol.Settlement? Settlement, string? KeyId, string? Vendor, IReadOnlyList<VendorObject>? Objects);
}
