using System.Security.Cryptography;
using System.Threading.Channels;
using Keybrake.Protocol;

namespace Keybrake.BudgetService.Keys;

/// <summary>
/// Hands key events to every open <c>WatchKeys</c> stream on this instance, numbers them, and tracks which streams
/// confirmed that their process applied them (<c>AcknowledgeKeyEvents</c>), so that a revocation can return once it
/// is in force everywhere. The events are raised by this instance's admin calls after the store has committed them;
/// with several replicas on a shared store (PostgreSQL), also by the changes the other replicas committed, which this
/// one hears of (<c>LISTEN</c>) and reads back (<see cref="Replicas.ReplicaChanges"/>). The hub remembers the state it
/// last announced for each key, so that a change is announced once however many times it is heard of.
/// </summary>
internal sealed class KeyEventHub
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Subscription> _subscribers = new(StringComparer.Ordinal);
    private readonly List<Published> _unconfirmed = [];
    private readonly Dictionary<string, (bool Known, bool Revoked, long PolicyVersion, long SecretVersion)> _announced = new(StringComparer.Ordinal);
    private readonly TimeSpan _bound;
    private readonly TimeProvider _clock;
    private long _sequence;

    /// <param name="bound">How long <see cref="ConfirmAsync"/> waits for the last confirmation.</param>
    /// <param name="clock">The network's clock (the system's in the service): how long to wait is not about the budget's calendar.</param>
    public KeyEventHub(TimeSpan bound, TimeProvider clock)
    {
        _bound = bound;
        _clock = clock;
    }

    /// <summary>Held while a key change is stored and announced, so announcements follow the order of the store's writes.</summary>
    public SemaphoreSlim Changes { get; } = new(1, 1);

    /// <summary>The open streams, for the <c>keybrake.keys.watchers</c> gauge.</summary>
    public int SubscriberCount
    {
        get
        {
            lock (_lock)
            {
                return _subscribers.Count;
            }
        }
    }

    /// <summary>
    /// Starts receiving events for <paramref name="keys"/> (null: every key); dispose the subscription to stop.
    /// <paramref name="name"/> is how the operator sees the process when it does not confirm a change;
    /// <paramref name="clientId"/> is the credential the stream was opened with, the only one that may confirm for it.
    /// </summary>
    public Subscription Subscribe(string name, IReadOnlySet<string>? keys, Func<string, bool>? inScope = null, string? clientId = null)
    {
        var channel = Channel.CreateUnbounded<KeyEvent>(new UnboundedChannelOptions { SingleReader = true });
        var subscription = new Subscription(this, "sub_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16)), name, clientId, keys, inScope, channel);
        lock (_lock)
        {
            _subscribers.Add(subscription.Id, subscription);
        }

        return subscription;
    }

    /// <summary>Numbers the event and sends it to every stream that watches its key; <see cref="ConfirmAsync"/> waits for their confirmations.</summary>
    public Published Publish(KeyEvent keyEvent) => Publish(keyEvent, clientRevoked: null);

    /// <summary>
    /// Numbers a notice (a lease recall or return) and sends it to every stream that watches its key, without waiting for
    /// confirmations and without taking it as the key's announced state: a process that misses one loses only a
    /// moment (a recalled lease still ends at its TTL; a denied call was going to be denied anyway).
    /// </summary>
    public void Notify(KeyEvent keyEvent)
    {
        lock (_lock)
        {
            keyEvent.Sequence = ++_sequence;
            foreach (var subscriber in _subscribers.Values)
            {
                if (subscriber.Watches(keyEvent))
                {
                    subscriber.Channel.Writer.TryWrite(keyEvent);
                }
            }
        }
    }

    /// <summary>
    /// Numbers a <c>CLIENT_REVOKED</c> event and sends it to every stream opened with <paramref name="clientId"/>;
    /// <see cref="ConfirmAsync"/> waits for their confirmations, which the revoked credential may still send
    /// (<see cref="AcknowledgeRevocation"/>).
    /// </summary>
    public Published PublishClientRevoked(string clientId) =>
        Publish(new KeyEvent { Kind = KeyEventKind.ClientRevoked, ClientId = clientId }, clientRevoked: clientId);

    private Published Publish(KeyEvent keyEvent, string? clientRevoked)
    {
        lock (_lock)
        {
            keyEvent.Sequence = ++_sequence;
            foreach (var key in keyEvent.Keys)
            {
                _announced[key.KeyId] = (key.Known, key.Revoked, key.PolicyVersion, key.SecretVersion);
            }

            var published = new Published(keyEvent.Sequence, clientRevoked);
            foreach (var subscriber in _subscribers.Values)
            {
                var sent = clientRevoked is null ? subscriber.Watches(keyEvent) : subscriber.ClientId == clientRevoked;
                if (sent && subscriber.Channel.Writer.TryWrite(keyEvent))
                {
                    published.Waiting.Add(subscriber.Id, subscriber.Name);
                }
            }

            published.Processes = published.Waiting.Count;
            if (published.Waiting.Count == 0)
            {
                published.Done.TrySetResult();
            }
            else
            {
                _unconfirmed.Add(published);
            }

            return published;
        }
    }

    /// <summary>The state this hub last announced for a key (known, revoked, policy and secret versions); <see langword="null"/> when it announced none.</summary>
    public (bool Known, bool Revoked, long PolicyVersion, long SecretVersion)? Announced(string keyId)
    {
        lock (_lock)
        {
            return _announced.TryGetValue(keyId, out var state) ? state : null;
        }
    }

    /// <summary>
    /// Waits until every stream the event went to has confirmed it, or one has gone and the rest confirmed, or the
    /// bound has passed; then says who confirmed and names who did not.
    /// </summary>
    public async Task<KeyEventDelivery> ConfirmAsync(Published published, CancellationToken cancellationToken)
    {
        var started = _clock.GetTimestamp();
        try
        {
            await published.Done.Task.WaitAsync(_bound, _clock, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // the bound passed: the reply names the processes still unconfirmed
        }

        lock (_lock)
        {
            _unconfirmed.Remove(published);
            var delivery = new KeyEventDelivery
            {
                Processes = published.Processes,
                Confirmed = published.Processes - published.Waiting.Count - published.Gone.Count,
                WaitedMs = (long)_clock.GetElapsedTime(started).TotalMilliseconds,
            };
            delivery.Unconfirmed.AddRange(published.Waiting.Values.Order(StringComparer.Ordinal));
            delivery.Unconfirmed.AddRange(published.Gone.Order(StringComparer.Ordinal).Select(name => name + " (stream closed)"));
            return delivery;
        }
    }

    /// <summary>
    /// The stream's process applied every event up to <paramref name="sequence"/>. False when no such stream is open,
    /// or (given <paramref name="clientId"/>) when the stream was opened with another credential.
    /// </summary>
    public bool Acknowledge(string subscriberId, long sequence, string? clientId = null)
    {
        lock (_lock)
        {
            if (!_subscribers.TryGetValue(subscriberId, out var subscriber) || (clientId is not null && subscriber.ClientId != clientId))
            {
                return false;
            }

            AcknowledgeLocked(subscriberId, sequence);
            return true;
        }
    }

    /// <summary>
    /// The one confirmation a revoked credential may still send: that its stream applied the revocation. Accepted
    /// only while the stream is open, belongs to <paramref name="clientId"/>, and has not yet confirmed a
    /// <c>CLIENT_REVOKED</c> event for it at or before <paramref name="sequence"/>; false otherwise.
    /// </summary>
    public bool AcknowledgeRevocation(string subscriberId, long sequence, string clientId)
    {
        lock (_lock)
        {
            if (!_subscribers.TryGetValue(subscriberId, out var subscriber) || subscriber.ClientId != clientId
                || !_unconfirmed.Any(published => published.ClientRevoked == clientId && published.Sequence <= sequence && published.Waiting.ContainsKey(subscriberId)))
            {
                return false;
            }

            AcknowledgeLocked(subscriberId, sequence);
            return true;
        }
    }

    private void AcknowledgeLocked(string subscriberId, long sequence)
    {
        foreach (var published in _unconfirmed)
        {
            if (published.Sequence <= sequence && published.Waiting.Remove(subscriberId))
            {
                published.CompleteIfSettled();
            }
        }
    }

    /// <summary>Raised (outside the hub's lock) when a stream ends: the process it served may have gone.</summary>
    public event Action<Subscription>? StreamEnded;

    /// <summary>The open stream <paramref name="subscriberId"/>: its name and credential; <see langword="null"/> when no such stream is open here.</summary>
    public (string Name, string? ClientId)? Stream(string subscriberId)
    {
        lock (_lock)
        {
            return _subscribers.TryGetValue(subscriberId, out var subscriber) ? (subscriber.Name, subscriber.ClientId) : null;
        }
    }

    private void Remove(Subscription subscription)
    {
        lock (_lock)
        {
            _subscribers.Remove(subscription.Id);

            // A stream that ended cannot confirm any more: name it, and stop waiting for it.
            foreach (var published in _unconfirmed)
            {
                if (published.Waiting.Remove(subscription.Id))
                {
                    published.Gone.Add(subscription.Name);
                    published.CompleteIfSettled();
                }
            }
        }

        subscription.Channel.Writer.TryComplete();
        StreamEnded?.Invoke(subscription);
    }

    /// <summary>One event on its way: the streams that have not confirmed it yet. Guarded by the hub's lock.</summary>
    internal sealed class Published(long sequence, string? clientRevoked)
    {
        public long Sequence { get; } = sequence;

        /// <summary>The credential whose revocation this is; <see langword="null"/> for a key event.</summary>
        public string? ClientRevoked { get; } = clientRevoked;

        public int Processes { get; set; }

        public Dictionary<string, string> Waiting { get; } = new(StringComparer.Ordinal);

        public List<string> Gone { get; } = [];

        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void CompleteIfSettled()
        {
            if (Waiting.Count == 0)
            {
                Done.TrySetResult();
            }
        }
    }

    /// <summary>One watcher's events.</summary>
    internal sealed class Subscription : IDisposable
    {
        private readonly KeyEventHub _hub;
        private readonly IReadOnlySet<string>? _keys;
        private readonly Func<string, bool>? _inScope;

        public Subscription(KeyEventHub hub, string id, string name, string? clientId, IReadOnlySet<string>? keys, Func<string, bool>? inScope, Channel<KeyEvent> channel)
        {
            _hub = hub;
            Id = id;
            Name = name;
            ClientId = clientId;
            _keys = keys;
            _inScope = inScope;
            Channel = channel;
        }

        /// <summary>The stream's id, sent on its snapshot; a process confirms events with it.</summary>
        public string Id { get; }

        public string Name { get; }

        /// <summary>The client credential the stream was opened with.</summary>
        public string? ClientId { get; }

        public Channel<KeyEvent> Channel { get; }

        public ChannelReader<KeyEvent> Events => Channel.Reader;

        /// <summary>
        /// Whether the stream gets the event (and is waited for): it names a key the stream watches and the stream's
        /// client credential covers. A process is never sent, nor waited on for, another credential's keys.
        /// </summary>
        public bool Watches(KeyEvent keyEvent) =>
            keyEvent.Keys.Any(key => (_keys is null || _keys.Contains(key.KeyId)) && (_inScope is null || _inScope(key.KeyId)));

        public void Dispose() => _hub.Remove(this);
    }
}
