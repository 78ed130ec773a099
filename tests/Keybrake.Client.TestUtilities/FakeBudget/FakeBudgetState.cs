using System.Collections.Concurrent;
using System.Threading.Channels;
using Keybrake.Protocol;

namespace Keybrake.Client.TestUtilities.FakeBudget;

/// <summary>
/// What a <see cref="FakeBudgetService"/> holds and records. Keys are added by the test; a key's vendor secret is
/// set (<see cref="SetSecret"/>) or rotated with its <c>SECRET_CHANGED</c> event (<see cref="RotateSecret"/>).
/// Events go to every open <c>WatchKeys</c> stream; <see cref="WaitForAcknowledgementAsync"/> waits for the guard to
/// confirm one, which it does once the event is applied.
/// </summary>
public sealed partial class FakeBudgetState
{
    private readonly ConcurrentDictionary<string, FakeKey> _keys = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Subscriber> _subscribers = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _refusedSecrets = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _secretRequests = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<AuthorizeRequest> _authorizations = new();
    private readonly ConcurrentQueue<Protocol.AuditRecord> _audit = new();
    private readonly ConcurrentQueue<FakeGate> _secretGates = new();
    private readonly ConcurrentQueue<(Func<AuthorizeRequest, bool> Match, FakeGate Gate)> _authorizeGates = new();
    private long _sequence;
    private long _reservations;

    /// <summary>The client credential every call must present.</summary>
    public string ClientToken { get; init; } = BudgetService.BudgetServiceHost.ClientToken;

    /// <summary>Whether the credential is revoked: every call but a confirmation is then refused (<c>Unauthenticated</c>).</summary>
    public bool ClientRevoked { get; private set; }

    /// <summary>When set, SubmitAudit answers <c>Unavailable</c>: the guard's records stay in its outbox.</summary>
    public bool AuditUnavailable { get; set; }

    /// <summary>Every Authorize the service received, oldest first.</summary>
    public IReadOnlyList<AuthorizeRequest> Authorizations => [.. _authorizations];

    /// <summary>Every audit record submitted.</summary>
    public IReadOnlyList<Protocol.AuditRecord> Audit => [.. _audit];

    /// <summary>How many streams are open.</summary>
    public int Subscribers => _subscribers.Count;

    /// <summary>Adds a key the service knows, with a permissive policy (no loop breaker, a $10,000 daily cap).</summary>
    public FakeBudgetState AddKey(string keyId, string vendor = "stripe")
    {
        _keys[keyId] = new FakeKey(keyId, vendor);
        return this;
    }

    /// <summary>Sets the key's vendor secret (its version grows by one) without an event: as it stood before the guard started.</summary>
    public long SetSecret(string keyId, string secret)
    {
        var key = _keys[keyId];
        lock (key)
        {
            key.Secret = secret;
            return ++key.SecretVersion;
        }
    }

    /// <summary>The key's secret version now.</summary>
    public long SecretVersion(string keyId) => _keys[keyId].SecretVersion;

    /// <summary>Sets a new secret and sends <c>SECRET_CHANGED</c>; returns the event's sequence number.</summary>
    public long RotateSecret(string keyId, string secret)
    {
        SetSecret(keyId, secret);
        return Push(KeyEventKind.SecretChanged, keyId);
    }

    /// <summary>Revokes the key and sends <c>REVOKED</c>; returns the event's sequence number.</summary>
    public long Revoke(string keyId)
    {
        _keys[keyId].Revoked = true;
        VoidLeases(keyId);
        return Push(KeyEventKind.Revoked, keyId);
    }

    /// <summary>Restores the key and sends <c>RESTORED</c>; returns the event's sequence number.</summary>
    public long Restore(string keyId)
    {
        _keys[keyId].Revoked = false;
        return Push(KeyEventKind.Restored, keyId);
    }

    /// <summary>Revokes the client credential and sends <c>CLIENT_REVOKED</c>; returns the event's sequence number.</summary>
    public long RevokeClient()
    {
        ClientRevoked = true;
        var sequence = Interlocked.Increment(ref _sequence);
        Send(new KeyEvent { Kind = KeyEventKind.ClientRevoked, Sequence = sequence, ClientId = BudgetService.BudgetServiceHost.ClientId });
        return sequence;
    }

    /// <summary>Authorize denies a call carrying a secret version below <paramref name="version"/> (past the overlap window) with <c>secret_rotated</c>.</summary>
    public void RefuseSecretVersionsBelow(string keyId, long version) => _keys[keyId].MinimumSecretVersion = version;

    /// <summary>GetVendorSecret for the key answers <c>PermissionDenied</c> with <paramref name="detail"/>.</summary>
    public void RefuseSecret(string keyId, string detail) => _refusedSecrets[keyId] = detail;

    /// <summary>How many GetVendorSecret requests for the key the service received.</summary>
    public int SecretRequests(string keyId) => _secretRequests.GetValueOrDefault(keyId);

    /// <summary>Holds the next GetVendorSecret answer (taken when the request arrives) until the gate is released.</summary>
    public FakeGate HoldNextSecretReply()
    {
        var gate = new FakeGate();
        _secretGates.Enqueue(gate);
        return gate;
    }

    /// <summary>Holds the next Authorize that <paramref name="match"/> picks until the gate is released.</summary>
    public FakeGate HoldAuthorize(Func<AuthorizeRequest, bool> match)
    {
        var gate = new FakeGate();
        _authorizeGates.Enqueue((match, gate));
        return gate;
    }

    /// <summary>
    /// Waits until <paramref name="streams"/> open streams confirmed <paramref name="sequence"/> (their guards applied the
    /// event); false after a generous wait.
    /// </summary>
    public async Task<bool> WaitForAcknowledgementAsync(long sequence, int streams = 1) =>
        await Poll.UntilAsync(() => _subscribers.Values.Count(s => Volatile.Read(ref s.Acknowledged) >= sequence) >= streams, done => done);

    /// <summary>Waits until <paramref name="streams"/> streams are open (each has had its snapshot); false after a generous wait.</summary>
    public async Task<bool> WaitForSubscriberAsync(int streams = 1) => await Poll.UntilAsync(() => _subscribers.Count >= streams, done => done);

    internal long Push(KeyEventKind kind, string keyId, string runId = "")
    {
        var sequence = Interlocked.Increment(ref _sequence);
        Send(new KeyEvent { Kind = kind, Sequence = sequence, Keys = { Watched(_keys[keyId]) }, RunId = runId });
        return sequence;
    }

    internal bool TryGetKey(string keyId, out FakeKey key) => _keys.TryGetValue(keyId, out key!);

    internal KeyEvent Snapshot(string subscriberId)
    {
        var snapshot = new KeyEvent { Kind = KeyEventKind.Snapshot, SubscriberId = subscriberId };
        snapshot.Keys.AddRange(_keys.Values.Select(Watched));
        return snapshot;
    }

    internal Channel<KeyEvent> Subscribe(string subscriberId)
    {
        var subscriber = new Subscriber(Channel.CreateUnbounded<KeyEvent>());
        _subscribers[subscriberId] = subscriber;
        return subscriber.Events;
    }

    internal void Unsubscribe(string subscriberId) => _subscribers.TryRemove(subscriberId, out _);

    internal bool Acknowledge(string subscriberId, long sequence)
    {
        if (!_subscribers.TryGetValue(subscriberId, out var subscriber))
        {
            return false;
        }

        long seen;
        while ((seen = Volatile.Read(ref subscriber.Acknowledged)) < sequence && Interlocked.CompareExchange(ref subscriber.Acknowledged, sequence, seen) != seen)
        {
        }

        return true;
    }

    /// <summary>Ends every open stream normally: the guard reconnects and gets a new snapshot.</summary>
    public void EndStreams()
    {
        foreach (var subscriber in _subscribers.Values)
        {
            subscriber.Events.Writer.TryComplete();
        }
    }

    internal async Task<VendorSecretReply> SecretAsync(string keyId)
    {
        _secretRequests.AddOrUpdate(keyId, 1, (_, count) => count + 1);
        if (_refusedSecrets.TryGetValue(keyId, out var detail))
        {
            throw new Grpc.Core.RpcException(new Grpc.Core.Status(Grpc.Core.StatusCode.PermissionDenied, detail));
        }

        if (!_keys.TryGetValue(keyId, out var key) || key.Secret is null)
        {
            throw new Grpc.Core.RpcException(new Grpc.Core.Status(Grpc.Core.StatusCode.NotFound, $"no vendor secret is set for key '{keyId}'"));
        }

        VendorSecretReply reply;
        lock (key)
        {
            reply = new VendorSecretReply { KeyId = keyId, Secret = key.Secret, Version = key.SecretVersion };
        }

        if (_secretGates.TryDequeue(out var gate))
        {
            await gate.PassAsync();
        }

        return reply;
    }

    internal async Task<AuthorizeReply> AuthorizeAsync(AuthorizeRequest request)
    {
        _authorizations.Enqueue(request);
        foreach (var (match, gate) in _authorizeGates)
        {
            if (!gate.Entered.IsCompleted && match(request))
            {
                await gate.PassAsync();
                break;
            }
        }

        if (!_keys.TryGetValue(request.KeyId, out var key))
        {
            throw new Grpc.Core.RpcException(new Grpc.Core.Status(Grpc.Core.StatusCode.NotFound, $"key '{request.KeyId}' is not known to the budget service"));
        }

        if (key.Revoked)
        {
            return new AuthorizeReply { Allowed = false, Reason = "key_revoked", Message = $"key '{request.KeyId}' is revoked" };
        }

        if (request.SecretVersion > 0 && request.SecretVersion < key.MinimumSecretVersion)
        {
            return new AuthorizeReply
            {
                Allowed = false,
                Reason = "secret_rotated",
                Message = $"the call carries version {request.SecretVersion} of key '{request.KeyId}''s vendor secret, rotated since",
            };
        }

        return AuthorizeAtCap(request, key);
    }

    internal void Record(IEnumerable<Protocol.AuditRecord> records)
    {
        foreach (var record in records)
        {
            _audit.Enqueue(record);
        }
    }

    private void Send(KeyEvent keyEvent)
    {
        foreach (var subscriber in _subscribers.Values)
        {
            subscriber.Events.Writer.TryWrite(keyEvent);
        }
    }

    private static WatchedKey Watched(FakeKey key) => new()
    {
        KeyId = key.KeyId,
        Known = true,
        Revoked = key.Revoked,
        PolicyVersion = key.PolicyVersion,
        SecretVersion = key.SecretVersion,
    };

    internal sealed class FakeKey(string keyId, string vendor)
    {
        public string KeyId { get; } = keyId;

        public string Vendor { get; } = vendor;

        public string? Secret { get; set; }

        public long SecretVersion { get; set; }

        public volatile bool Revoked;

        public long MinimumSecretVersion { get; set; }

        public LeasePolicy? Lease { get; set; }

        public long DailyCapMicros { get; set; } = 10_000_000_000;

        public long PolicyVersion { get; set; } = 1;

        /// <summary>What Authorize allowed (the fake never gives it back).</summary>
        public long AuthorizedMicros { get; set; }
    }

    private sealed class Subscriber(Channel<KeyEvent> events)
    {
        public long Acknowledged;

        public Channel<KeyEvent> Events { get; } = events;
    }
}
