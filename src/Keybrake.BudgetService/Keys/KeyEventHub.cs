using System.Threading.Channels;
using Keybrake.Protocol;

namespace Keybrake.BudgetService.Keys;

/// <summary>
/// Hands key events to every open <c>WatchKeys</c> stream on this instance. The events are raised by this
/// instance's admin calls after the store has committed them; with several replicas on a shared store, each
/// would also feed its hub from the store's notifications (PostgreSQL <c>LISTEN</c>).
/// </summary>
internal sealed class KeyEventHub
{
    private readonly Lock _lock = new();

    /// <summary>Held while a key change is stored and announced, so announcements follow the order of the store's writes.</summary>
    public SemaphoreSlim Changes { get; } = new(1, 1);
    private readonly List<Channel<KeyEvent>> _watchers = [];

    /// <summary>Starts receiving events; dispose the subscription to stop.</summary>
    public Subscription Subscribe()
    {
        var channel = Channel.CreateUnbounded<KeyEvent>(new UnboundedChannelOptions { SingleReader = true });
        lock (_lock)
        {
            _watchers.Add(channel);
        }

        return new Subscription(this, channel);
    }

    public void Publish(KeyEvent keyEvent)
    {
        lock (_lock)
        {
            foreach (var watcher in _watchers)
            {
                watcher.Writer.TryWrite(keyEvent);
            }
        }
    }

    private void Remove(Channel<KeyEvent> channel)
    {
        lock (_lock)
        {
            _watchers.Remove(channel);
        }

        channel.Writer.TryComplete();
    }

    /// <summary>One watcher's events.</summary>
    internal sealed class Subscription : IDisposable
    {
        private readonly KeyEventHub _hub;
        private readonly Channel<KeyEvent> _channel;

        public Subscription(KeyEventHub hub, Channel<KeyEvent> channel)
        {
            _hub = hub;
            _channel = channel;
        }

        public ChannelReader<KeyEvent> Events => _channel.Reader;

        public void Dispose() => _hub.Remove(_channel);
    }
}
