using System.Collections.Concurrent;
using System.Globalization;
using System.Reflection;
using Grpc.Core;
using Keybrake.Protocol;
using Microsoft.Extensions.Logging;

namespace Keybrake.Client.Central;

/// <summary>
/// Keeps one <c>WatchKeys</c> stream open to the budget service and applies its events the moment they arrive:
/// revocations, restorations, policy changes. The gRPC client never retries a long stream, so the reconnect loop
/// is this class's own. On every (re)connect the service sends a snapshot first, so changes made while the stream
/// was down are applied then. The view counts only while the stream has spoken within the staleness bound.
/// Each change is confirmed to the service once applied (<c>AcknowledgeKeyEvents</c>), so that the operator's
/// revocation returns when it is in force in this process; the stream names the process for the operator.
/// </summary>
internal sealed class KeyWatcher : IAsyncDisposable
{
    private static readonly TimeSpan s_firstRetry = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan s_maxRetry = TimeSpan.FromSeconds(1);

    /// <summary>
    /// The service speaks at least every second. A stream silent for this long is taken for dead and reopened,
    /// rather than waiting for HTTP/2 keep-alive to notice a hung connection (tens of seconds).
    /// </summary>
    private static readonly TimeSpan s_silenceLimit = TimeSpan.FromSeconds(3);

    /// <summary>How long a confirmation may take; past it the operator's call has stopped waiting anyway.</summary>
    private static readonly TimeSpan s_acknowledgeTimeout = TimeSpan.FromSeconds(2);

    private readonly ConcurrentDictionary<string, (bool Revoked, long PolicyVersion)> _keys = new(StringComparer.Ordinal);
    private readonly Budget.BudgetClient _client;
    private readonly TimeProvider _time;
    private readonly TimeSpan _staleness;
    private readonly ILogger _logger;
    private readonly string _name;
    private readonly ReplicaHealth? _replicas;
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;
    private long _lastHeard;
    private bool _snapshotSeen;
    private bool _credentialRefused;
    private string? _subscriberId;

    public KeyWatcher(Budget.BudgetClient client, TimeProvider time, TimeSpan staleness, ILogger logger, string? name = null, ReplicaHealth? replicas = null)
    {
        _client = client;
        _replicas = replicas;
        _time = time;
        _staleness = staleness;
        _logger = logger;
        _name = string.IsNullOrWhiteSpace(name) ? DefaultName : name;
    }

    /// <summary>This process as the operator sees it on the service: host/pid/app.</summary>
    public static string DefaultName { get; } = string.Create(
        CultureInfo.InvariantCulture,
        $"{Environment.MachineName}/{Environment.ProcessId}/{Assembly.GetEntryAssembly()?.GetName().Name ?? "dotnet"}");

    /// <summary>Raised for each key whose policy version changed, or may have (a snapshot after a reconnect).</summary>
    public event Action<string, long>? PolicyVersionSeen;

    /// <summary>
    /// Raised for each key an event or a snapshot names (its state as the service sends it), and for each key a
    /// snapshot no longer names (as unknown). Raised while the event is applied, before it is confirmed to the service.
    /// </summary>
    public event Action<WatchedKey>? KeySeen;

    /// <summary>Raised when the service revoked, or refused, this process's credential: no key may be used here.</summary>
    public event Action? CredentialRevoked;

    /// <summary>
    /// Raised for every change event (not snapshots or heartbeats) once the watcher itself has applied it, before it is
    /// confirmed to the service: budget leases follow recalls, returns, policy changes and revocations from here.
    /// </summary>
    public event Action<KeyEvent>? EventApplied;

    /// <summary>The open stream's id at the service (from its snapshot); <see langword="null"/> while no stream is open.</summary>
    public string? SubscriberId => Volatile.Read(ref _subscriberId);

    /// <summary>
    /// Whether the service revoked, or ended or refused the stream because it no longer accepts, this process's
    /// credential (revoked, or not scoped to the keys). Until a stream opens again, every key counts as revoked here.
    /// </summary>
    public bool CredentialRefused => Volatile.Read(ref _credentialRefused);

    /// <summary>Whether the stream has spoken within the staleness bound since its last snapshot.</summary>
    public bool IsCurrent => Volatile.Read(ref _snapshotSeen) && _time.GetElapsedTime(Volatile.Read(ref _lastHeard)) <= _staleness;

    /// <summary>Opens the stream the first time it is needed; later calls do nothing.</summary>
    public void EnsureStarted()
    {
        if (Volatile.Read(ref _loop) is null && !_stop.IsCancellationRequested)
        {
            var loop = new Task<Task>(() => RunAsync(_stop.Token));
            if (Interlocked.CompareExchange(ref _loop, loop.Unwrap(), null) is null)
            {
                loop.Start(TaskScheduler.Default);
            }
        }
    }

    /// <summary>The key's state as the stream last told it, when the stream is current and knows the key.</summary>
    public bool TryGet(string keyId, out bool revoked, out long policyVersion)
    {
        if (IsCurrent && _keys.TryGetValue(keyId, out var state))
        {
            (revoked, policyVersion) = state;
            return true;
        }

        (revoked, policyVersion) = (false, 0);
        return false;
    }

    /// <summary>Closes the stream without waiting for the loop to finish (synchronous disposal).</summary>
    public void Stop() => _stop.Cancel();

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (Volatile.Read(ref _loop) is { } loop)
        {
            await loop.ConfigureAwait(false);
        }

        // The token source holds no timer, so it is left to the collector: the container may dispose the
        // ledger twice (as itself and as IBudgetLedger), and a second dispose must find it usable.
    }

    private async Task RunAsync(CancellationToken stopping)
    {
        var retry = s_firstRetry;
        var tag = string.Empty;
        while (!stopping.IsCancellationRequested)
        {
            using var silence = CancellationTokenSource.CreateLinkedTokenSource(stopping);
            try
            {
                // A network timer, on the system clock like the calls' deadlines; every message resets it.
                silence.CancelAfter(s_silenceLimit);
                // Tagged, so that a replica that ends the stream with Unavailable is passed over when it reconnects.
                tag = Guid.NewGuid().ToString("N");
                using var call = _client.WatchKeys(new WatchKeysRequest { SubscriberName = _name }, new Metadata { { ReplicaHealth.StreamTagHeader, tag } }, cancellationToken: silence.Token);
                var subscriberId = string.Empty;
                await foreach (var keyEvent in call.ResponseStream.ReadAllAsync(silence.Token).ConfigureAwait(false))
                {
                    silence.CancelAfter(s_silenceLimit);
                    Apply(keyEvent);
                    retry = s_firstRetry;
                    if (keyEvent.Kind == KeyEventKind.Snapshot)
                    {
                        subscriberId = keyEvent.SubscriberId;
                        Volatile.Write(ref _subscriberId, subscriberId.Length == 0 ? null : subscriberId);
                    }
                    else if (keyEvent.Sequence > 0 && subscriberId.Length > 0)
                    {
                        await AcknowledgeAsync(subscriberId, keyEvent.Sequence, silence.Token).ConfigureAwait(false);
                    }
                }
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception exception) when (silence.IsCancellationRequested && !stopping.IsCancellationRequested && exception is OperationCanceledException or RpcException)
            {
                Log.KeyWatchDropped(_logger, $"no message for {s_silenceLimit.TotalSeconds:0} s");
            }
            catch (RpcException exception) when (exception.StatusCode == StatusCode.Cancelled && stopping.IsCancellationRequested)
            {
                return;
            }
            catch (RpcException exception) when (BudgetServiceResilience.IsRefused(exception))
            {
                // Set before the view stops counting, so that no call in between trusts a status cached earlier.
                Volatile.Write(ref _credentialRefused, true);
                CredentialRevoked?.Invoke();
                Log.BudgetServiceRefusedCredential(_logger, "WatchKeys", exception.Status.Detail);
            }
            catch (Exception exception) when (exception is RpcException or IOException or HttpRequestException or InvalidOperationException)
            {
                Log.KeyWatchDropped(_logger, exception.Message);
                if (exception is RpcException { StatusCode: StatusCode.Unavailable } ended && _replicas?.StreamEnded(tag) is { } replica)
                {
                    // The replica ended the stream (it cannot promise to pass events on, or is stopping), or its connection dropped.
                    _replicas.Failed(replica.Host, replica.Port, ended.Status.Detail);
                }
            }

            if (tag.Length > 0)
            {
                _replicas?.StreamEnded(tag);
            }

            Volatile.Write(ref _snapshotSeen, false);
            Volatile.Write(ref _subscriberId, null);
            try
            {
                // Jittered, so that many processes do not all come back in the same millisecond.
                var wait = retry * (0.5 + (Random.Shared.NextDouble() / 2));
                await Task.Delay(wait, _time, stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            retry = retry * 2 > s_maxRetry ? s_maxRetry : retry * 2;
        }
    }

    /// <summary>
    /// Tells the service this process applied the change (and every one before it). A confirmation that fails is
    /// only logged: the operator's call then names this process as unconfirmed, which is the truth.
    /// </summary>
    private async Task AcknowledgeAsync(string subscriberId, long sequence, CancellationToken cancellationToken)
    {
        try
        {
            await _client.AcknowledgeKeyEventsAsync(
                new AcknowledgeKeyEventsRequest { SubscriberId = subscriberId, Sequence = sequence },
                deadline: _time.GetUtcNow().UtcDateTime + s_acknowledgeTimeout,
                cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (RpcException exception) when (!cancellationToken.IsCancellationRequested)
        {
            Log.KeyEventNotAcknowledged(_logger, sequence, exception.Status.Detail);
        }
    }

    private void Apply(KeyEvent keyEvent)
    {
        if (keyEvent.Kind == KeyEventKind.Snapshot)
        {
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var key in keyEvent.Keys)
            {
                seen.Add(key.KeyId);
                Update(key);
            }

            foreach (var stale in _keys.Keys.Where(id => !seen.Contains(id)))
            {
                _keys.TryRemove(stale, out _);
                KeySeen?.Invoke(new WatchedKey { KeyId = stale, Known = false });
            }

            Volatile.Write(ref _snapshotSeen, true);
            Volatile.Write(ref _credentialRefused, false);
        }
        else if (keyEvent.Kind == KeyEventKind.ClientRevoked)
        {
            // Applied before it is confirmed: once the operator's revoke returns, no call here trusts a key.
            Volatile.Write(ref _credentialRefused, true);
            CredentialRevoked?.Invoke();
            Log.BudgetServiceRefusedCredential(_logger, "WatchKeys", $"client credential '{keyEvent.ClientId}' is revoked");
        }
        else
        {
            foreach (var key in keyEvent.Keys)
            {
                Update(key);
                if (keyEvent.Kind is KeyEventKind.Revoked or KeyEventKind.Restored or KeyEventKind.SecretChanged)
                {
                    Log.KeyEventApplied(_logger, key.KeyId, keyEvent.Kind.ToString());
                }
            }
        }

        if (keyEvent.Kind is not (KeyEventKind.Snapshot or KeyEventKind.Heartbeat))
        {
            EventApplied?.Invoke(keyEvent);
        }

        Volatile.Write(ref _lastHeard, _time.GetTimestamp());
    }

    private void Update(WatchedKey key)
    {
        if (!key.Known)
        {
            _keys.TryRemove(key.KeyId, out _);
            KeySeen?.Invoke(key);
            return;
        }

        _keys[key.KeyId] = (key.Revoked, key.PolicyVersion);
        PolicyVersionSeen?.Invoke(key.KeyId, key.PolicyVersion);
        KeySeen?.Invoke(key);
    }
}
