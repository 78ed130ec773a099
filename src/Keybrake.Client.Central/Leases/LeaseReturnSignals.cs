using System.Collections.Concurrent;

namespace Keybrake.Client.Central;

/// <summary>
/// The LEASE_RETURNED events seen per key, for a call denied at the cap while leases were recalled: it notes the
/// count before asking, and waits for it to grow, so that an event arriving between the answer and the wait counts.
/// </summary>
internal sealed class LeaseReturnSignals
{
    private readonly ConcurrentDictionary<string, Signal> _signals = new(StringComparer.Ordinal);

    /// <summary>How many returns of the key were seen so far.</summary>
    public long Seen(string keyId) => _signals.TryGetValue(keyId, out var signal) ? Volatile.Read(ref signal.Count) : 0;

    /// <summary>A LEASE_RETURNED event of the key (any run) arrived.</summary>
    public void Returned(string keyId)
    {
        var signal = _signals.GetOrAdd(keyId, _ => new Signal());
        TaskCompletionSource done;
        lock (signal)
        {
            signal.Count++;
            done = signal.Next;
            signal.Next = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        done.TrySetResult();
    }

    /// <summary>Waits until a return of the key later than <paramref name="seen"/> arrives; <see langword="false"/> when <paramref name="wait"/> passed first.</summary>
    public async ValueTask<bool> WaitAsync(string keyId, long seen, TimeSpan wait, TimeProvider clock, CancellationToken cancellationToken)
    {
        var signal = _signals.GetOrAdd(keyId, _ => new Signal());
        Task next;
        lock (signal)
        {
            if (signal.Count > seen)
            {
                return true;
            }

            next = signal.Next.Task;
        }

        try
        {
            await next.WaitAsync(wait, clock, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    private sealed class Signal
    {
        public long Count;

        public TaskCompletionSource Next { get; set; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
