namespace Keybrake.Client;

/// <summary>A sliding-window log of the timestamps of the calls let through; not thread-safe, the caller locks.</summary>
internal sealed class SlidingWindowCounter
{
    private long[] _stamps = [];
    private int _head;
    private int _count;

    /// <summary>Whether <paramref name="limit"/> calls went through within the window, so the next would not; counts nothing.</summary>
    public bool IsFull(long now, int limit, TimeSpan window, TimeProvider time)
    {
        if (_stamps.Length != limit)
        {
            return false; // a new limit starts a fresh log
        }

        var count = _count;
        var head = _head;
        while (count > 0 && time.GetElapsedTime(_stamps[head], now) >= window)
        {
            head = (head + 1) % _stamps.Length;
            count--;
        }

        return count == limit;
    }

    /// <summary>Lets a call through when fewer than <paramref name="limit"/> went through within the window.</summary>
    public bool TryTake(long now, int limit, TimeSpan window, TimeProvider time)
    {
        if (_stamps.Length != limit)
        {
            // The limit changed with a configuration reload: start a fresh log of the new size.
            _stamps = new long[limit];
            _head = 0;
            _count = 0;
        }

        while (_count > 0 && time.GetElapsedTime(_stamps[_head], now) >= window)
        {
            _head = (_head + 1) % _stamps.Length;
            _count--;
        }

        if (_count == limit)
        {
            return false;
        }

        _stamps[(_head + _count) % _stamps.Length] = now;
        _count++;
        return true;
    }
}
