using System.Threading.Channels;
using Grpc.Core;
using Keybrake.Protocol;
using Microsoft.Extensions.Logging;

namespace Keybrake.Client.Central;

/// <summary>
/// Sends settlements, and the vendor objects calls leave behind, to the budget service off the request path,
/// in batches. A settlement waits in memory until the service has it, retried through outages; if the
/// process dies first, its reservation stays pending at the service and counts as spent, which is the safe
/// way to lose it. The sender lingers a moment before sending a batch that is not full, so that callers
/// finishing at about the same time share one request and one store transaction.
/// The loop survives every failure: an outage is waited out, a batch the service refuses for good (a bad
/// argument, a client it does not permit, a method it does not have) is set aside where an operator can read
/// it (the outbox file's <c>set_aside</c> table) and logged, and anything else is logged and set aside too.
/// The queue is bounded (<see cref="DefaultCapacity"/>): when it is full, a settlement is not queued and its
/// reservation stays pending at the service, counted as spent (the safe side), and the drops are logged
/// with their count.
/// </summary>
internal sealed class SettleSender : IAsyncDisposable, IDisposable
{
    private const int MaxBatch = 500;

    /// <summary>Settlements (and groups of objects) that may wait in memory: 100,000, about 10 MB.</summary>
    public const int DefaultCapacity = 100_000;

    /// <summary>How long a batch that is not full waits for company.</summary>
    public static readonly TimeSpan DefaultLinger = TimeSpan.FromMilliseconds(2);

    private static readonly TimeSpan s_retryDelay = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan s_drainTimeout = TimeSpan.FromSeconds(5);

    private readonly Channel<Outgoing> _queue;
    private readonly Budget.BudgetClient _client;
    private readonly BudgetServiceResilience _resilience;
    private readonly TimeProvider _time;
    private readonly TimeProvider _transportTime;
    private readonly TimeSpan _linger;
    private readonly Action<string, string, IReadOnlyList<VendorObject>>? _objectsSent;
    private readonly Action<SettleRequest, string>? _setAside;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _loop;
    private long _inFlight;
    private long _dropped;
    private long _setAsideCount;
    private bool _draining;
    private bool _urgent;
    private int _disposed;

    /// <param name="client">The budget service.</param>
    /// <param name="resilience">Deadlines, retries and the breaker.</param>
    /// <param name="time">The guard's clock.</param>
    /// <param name="transportTime">The clock of the linger: transport timing, the system's outside tests.</param>
    /// <param name="linger">How long a batch that is not full waits; zero sends at once.</param>
    /// <param name="objectsSent">Told of objects once the service has them (or has refused them for good).</param>
    /// <param name="logger">The ledger's logger.</param>
    /// <param name="setAside">Keeps a batch the service refused for good, with the reason, where an operator can read it.</param>
    /// <param name="capacity">How many settlements (and groups of objects) may wait; past it they are dropped.</param>
    public SettleSender(
        Budget.BudgetClient client,
        BudgetServiceResilience resilience,
        TimeProvider time,
        TimeProvider transportTime,
        TimeSpan linger,
        Action<string, string, IReadOnlyList<VendorObject>>? objectsSent,
        ILogger logger,
        Action<SettleRequest, string>? setAside = null,
        int capacity = DefaultCapacity)
    {
        _queue = Channel.CreateBounded<Outgoing>(new BoundedChannelOptions(capacity) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
        _setAside = setAside;
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

    /// <summary>Settlements not queued because the queue was full (or the sender stopped).</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Settlements the service refused for good, set aside.</summary>
    public long SetAside => Interlocked.Read(ref _setAsideCount);

    /// <summary>Whether the loop that sends is still running (it ends only when the sender is disposed).</summary>
    public bool IsRunning => !_loop.IsCompleted;

    /// <summary>Queues a settlement; when the queue is full it is dropped and its reservation stays pending, counted as spent.</summary>
    public void Enqueue(Protocol.Settlement settlement)
    {
        if (!TryEnqueue(new Outgoing(settlement, null, null, null)))
        {
            // Logged on the first drop and every thousandth after it: a full queue must not flood the log.
            var dropped = Interlocked.Increment(ref _dropped);
            if (dropped == 1 || dropped % 1_000 == 0)
            {
                Log.SettlementsDropped(_logger, settlement.ReservationId, dropped);
            }
        }
    }

    /// <summary>
    /// Queues a deferral (a reservation that settles when the object is priced) to be recorded at the service, in
    /// order with this process's settlements; when the queue is full it is dropped, and the reservation stays
    /// counted at its estimate unless this process sees the price itself.
    /// </summary>
    public void EnqueueDeferral(Protocol.Deferral deferral)
    {
        if (!TryEnqueue(new Outgoing(null, null, null, null, deferral, null)))
        {
            DeferredReportDropped(deferral.Vendor, deferral.ObjectId, deferral.KeyId);
        }
    }

    /// <summary>Queues an object's price, for the service to settle the reservation its deferral names.</summary>
    public void EnqueueObjectSettlement(Protocol.ObjectSettlement settlement)
    {
        if (!TryEnqueue(new Outgoing(null, null, null, null, null, settlement)))
        {
            DeferredReportDropped(settlement.Vendor, settlement.ObjectId, settlement.KeyId);
        }
    }

    /// <summary>Logged on the first drop and every thousandth after it, like dropped settlements.</summary>
    private void DeferredReportDropped(string vendor, string objectId, string keyId)
    {
        var dropped = Interlocked.Increment(ref _dropped);
        if (dropped == 1 || dropped % 1_000 == 0)
        {
            Log.DeferredReportDropped(_logger, vendor, objectId, keyId);
        }
    }

    /// <summary>
    /// Queues a call decided on a lease, to become its reservation at the service. Called before the call's own
    /// settlement can be queued, so the settlement finds it. <see langword="false"/> when the queue is full: the call
    /// must not be allowed on the lease, since the service would never learn of the money it moved.
    /// </summary>
    public bool TryEnqueueLeasedCall(LeasedCall call) => TryEnqueue(new Outgoing(null, null, null, null, LeasedCall: call));

    /// <summary>
    /// Queues a lease given back, behind the calls already decided on it, and sends without the usual linger: a
    /// recall is waited for by a denied caller. When the queue is full the lease simply runs to its TTL at the service.
    /// </summary>
    public void EnqueueReturnedLease(string leaseId)
    {
        if (TryEnqueue(new Outgoing(null, null, null, null, ReturnedLease: leaseId)))
        {
            Volatile.Write(ref _urgent, true);
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
        Volatile.Write(ref _draining, true);
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
            if (_linger > TimeSpan.Zero && Pending < MaxBatch && !Volatile.Read(ref _urgent))
            {
                await Task.Delay(_linger, _transportTime, CancellationToken.None).ConfigureAwait(false);
            }

            Volatile.Write(ref _urgent, false);
            var batch = new SettleRequest();
            var items = 0;
            while (items < MaxBatch && reader.TryRead(out var item))
            {
                items++;
                if (item.Settlement is { } settlement)
                {
                    batch.Settlements.Add(settlement);
                }
                else if (item.Deferral is { } deferral)
                {
                    batch.Deferrals.Add(deferral);
                }
                else if (item.ObjectSettlement is { } byObject)
                {
                    batch.ObjectSettlements.Add(byObject);
                }
                else if (item.LeasedCall is { } leased)
                {
                    batch.LeasedCalls.Add(leased);
                }
                else if (item.ReturnedLease is { } returned)
                {
                    batch.ReturnedLeases.Add(returned);
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

            try
            {
                await SendAsync(batch).ConfigureAwait(false);
            }
            catch (Exception exception)
            {
                // Nothing stops the loop but the end of the process: a batch that failed in a way no one
                // foresaw is logged and set aside, and the settlements behind it still go.
                Log.SettleFailedUnexpectedly(_logger, batch.Settlements.Count, exception);
                SetAsideBatch(batch, exception.Message);
            }
            finally
            {
                foreach (var (keyId, vendor, group) in objects)
                {
                    _objectsSent?.Invoke(keyId, vendor, group);
                }

                objects.Clear();
                Interlocked.Add(ref _inFlight, -items);
            }
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
                Func<DateTime, CancellationToken, ValueTask<SettleReply>> settle =
                    async (deadline, token) => await _client.SettleAsync(batch, deadline: deadline, cancellationToken: token).ConfigureAwait(false);

                // Draining at shutdown, each attempt goes past the breaker: one left open by a blip the service
                // has recovered from would otherwise fail every attempt of the drain, and leave the
                // reservations pending.
                _ = Volatile.Read(ref _draining)
                    ? await _resilience.ExecuteDirectAsync(settle, _stopping.Token).ConfigureAwait(false)
                    : await _resilience.ExecuteAsync(settle, _stopping.Token).ConfigureAwait(false);
                return;
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
            {
                LeftPending(batch);
                return; // shutting down: the reservations stay pending at the service, counted as spent
            }
            catch (Exception exception) when (BudgetServiceResilience.IsOutage(exception))
            {
                Log.BudgetServiceUnreachable(_logger, "Settle", exception.Message);
                if (_stopping.IsCancellationRequested)
                {
                    LeftPending(batch);
                    return;
                }

                try
                {
                    // Transport timing, on the system clock: a test's fake clock would never end the wait.
                    await Task.Delay(s_retryDelay, _transportTime, _stopping.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    LeftPending(batch);
                    return;
                }
            }
            catch (RpcException exception) when (BudgetServiceResilience.IsPermanentRefusal(exception))
            {
                // The service will never take it as it is: holding it would block every settlement behind it.
                SetAsideBatch(batch, $"{exception.StatusCode}: {exception.Status.Detail}");
                return;
            }
        }
    }

    private void LeftPending(SettleRequest batch)
    {
        if (batch.Settlements.Count + batch.LeasedCalls.Count > 0)
        {
            Log.SettlementsLeftPending(_logger, batch.Settlements.Count + batch.LeasedCalls.Count);
        }

        ObjectsDropped(batch);
    }

    /// <summary>Keeps the refused batch where an operator can read it; its reservations stay pending at the service, counted as spent.</summary>
    private void SetAsideBatch(SettleRequest batch, string problem)
    {
        var count = batch.Settlements.Count + batch.Deferrals.Count + batch.ObjectSettlements.Count + batch.LeasedCalls.Count;
        Interlocked.Add(ref _setAsideCount, count);
        ObjectsDropped(batch);
        if (count == 0)
        {
            return;
        }

        if (_setAside is null)
        {
            Log.SettlementRejected(_logger, count, problem);
            return;
        }

        try
        {
            _setAside(batch, problem);
        }
        catch (Exception exception)
        {
            Log.SettlementsNotSetAside(_logger, count, exception);
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

    /// <summary>A settlement, objects to remember, a deferral, or an object's price.</summary>
    private readonly record struct Outgoing(
        Protocol.Settlement? Settlement,
        string? KeyId,
        string? Vendor,
        IReadOnlyList<VendorObject>? Objects,
        Protocol.Deferral? Deferral = null,
        Protocol.ObjectSettlement? ObjectSettlement = null,
        LeasedCall? LeasedCall = null,
        string? ReturnedLease = null);
}
