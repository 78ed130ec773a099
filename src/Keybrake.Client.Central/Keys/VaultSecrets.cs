using System.Collections.Concurrent;
using Grpc.Core;
using Keybrake.Protocol;
using Microsoft.Extensions.Logging;

namespace Keybrake.Client.Central;

/// <summary>
/// The vendor secrets the budget service holds for keys that have none in this process's configuration: asked for
/// on a key's first use (one request however many calls start at once), then kept in memory only, never written
/// anywhere. The key event stream keeps them current: a key's <c>SECRET_CHANGED</c> (or a snapshot naming a newer
/// version) drops its secret, so that calls that start afterwards fetch the new one while calls that already hold
/// the old one finish with it; a revoked key, a key the service no longer names, or a revoked credential drops
/// them outright. An outage drops nothing: a secret already held keeps serving under the outage rules.
/// </summary>
internal sealed class VaultSecrets
{
    /// <summary>
    /// How often one fetch asks again when the service's answer is already older than an event announced (a replica
    /// behind the one that sent the event). Past it the answer serves the calls waiting for it, but is not kept.
    /// </summary>
    private const int MaxStaleAnswers = 3;

    private readonly ConcurrentDictionary<string, Held> _held = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Task<Fetched>> _fetching = new(StringComparer.Ordinal);

    /// <summary>Per key: the newest secret version announced, and how often its secret was dropped outright (revocation).</summary>
    private readonly ConcurrentDictionary<string, Announced> _announced = new(StringComparer.Ordinal);

    private readonly Budget.BudgetClient _client;
    private int _waiting;
    private readonly BudgetServiceResilience _resilience;
    private readonly ILogger _logger;

    public VaultSecrets(Budget.BudgetClient client, BudgetServiceResilience resilience, KeyWatcher watcher, ILogger logger)
    {
        _client = client;
        _resilience = resilience;
        _logger = logger;
        watcher.KeySeen += OnKeySeen;
        watcher.CredentialRevoked += () => DropAll("the budget service revoked or refused this process's client credential");
    }

    /// <summary>How many calls are waiting for a fetch (tests look at it).</summary>
    public int Waiting => Volatile.Read(ref _waiting);

    /// <summary>How many keys' secrets this process holds (tests look at it).</summary>
    public int Count => _held.Count;

    /// <summary>Whether this process holds a secret of the service's for the key (tests look at it).</summary>
    public bool Holds(string keyId) => _held.ContainsKey(keyId);

    /// <summary>The version of the key's secret held, 0 when none (tests look at it).</summary>
    public long HeldVersion(string keyId) => _held.TryGetValue(keyId, out var held) ? held.Version : 0;

    /// <summary>
    /// <paramref name="key"/> carrying the service's secret for it, or why the call cannot go ahead: a key without a
    /// secret has nothing to send, so every call fails closed, reads included.
    /// </summary>
    public async ValueTask<(ResolvedKey? Key, GuardDenial? Denial)> ResolveAsync(ResolvedKey key, CancellationToken cancellationToken)
    {
        if (_held.TryGetValue(key.Id, out var held))
        {
            return (held.Carrying(key), null);
        }

        Interlocked.Increment(ref _waiting);
        Fetched fetched;
        try
        {
            fetched = await FetchOnceAsync(key.Id).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref _waiting);
        }

        return fetched.Secret is { } secret ? (secret.Carrying(key), null) : (null, fetched.Denial);
    }

    /// <summary>
    /// The service refused <paramref name="version"/> as rotated (<c>secret_rotated</c> on Authorize): it is dropped,
    /// and no answer that old is kept again, so the next resolution fetches the new one.
    /// </summary>
    public void Rotated(string keyId, long version) =>
        Drop(keyId, version + 1, $"the budget service refused version {version} as rotated");

    private void OnKeySeen(WatchedKey key)
    {
        if (!key.Known)
        {
            Drop(key.KeyId, 0, "the budget service no longer names the key to this process");
        }
        else if (key.Revoked)
        {
            Drop(key.KeyId, 0, "the key is revoked");
        }
        else if (key.SecretVersion > 0 && (key.SecretVersion > HeldVersion(key.KeyId) || key.SecretVersion > NewestAnnounced(key.KeyId)))
        {
            Drop(key.KeyId, key.SecretVersion, $"the budget service announced version {key.SecretVersion}");
        }
    }

    private long NewestAnnounced(string keyId) => _announced.TryGetValue(keyId, out var announced) ? announced.Version : 0;

    /// <summary>
    /// Drops the key's secret unless it is already <paramref name="atLeast"/> or newer, and makes any fetch under way
    /// keep nothing older than that (it asks again). The announcement is recorded first, so that a fetch finishing
    /// between the two steps cannot put an old secret back.
    /// </summary>
    private void Drop(string keyId, long atLeast, string why)
    {
        _announced.AddOrUpdate(
            keyId,
            static (_, version) => new Announced(version, version == 0 ? 1 : 0),
            static (_, current, version) => new Announced(Math.Max(current.Version, version), current.Drops + (version == 0 ? 1 : 0)),
            atLeast);
        while (_held.TryGetValue(keyId, out var held) && (atLeast == 0 || held.Version < atLeast))
        {
            if (_held.TryRemove(new KeyValuePair<string, Held>(keyId, held)))
            {
                Log.VendorSecretDropped(_logger, keyId, held.Version, why);
                break;
            }
        }
    }

    private void DropAll(string why)
    {
        foreach (var keyId in _held.Keys)
        {
            Drop(keyId, 0, why);
        }
    }

    /// <summary>One fetch per key at a time: calls that find one under way wait for it.</summary>
    private Task<Fetched> FetchOnceAsync(string keyId)
    {
        var mine = new TaskCompletionSource<Fetched>(TaskCreationOptions.RunContinuationsAsynchronously);
        var running = _fetching.GetOrAdd(keyId, mine.Task);
        if (running != mine.Task)
        {
            return running;
        }

        if (_held.TryGetValue(keyId, out var held))
        {
            // A fetch finished between this caller's look and its claim (it stores the secret before it lets go).
            _fetching.TryRemove(new KeyValuePair<string, Task<Fetched>>(keyId, mine.Task));
            mine.SetResult(new Fetched(held, null));
            return mine.Task;
        }

        // Not bound to the first caller's cancellation: the others wait for the same answer. The resilience
        // pipeline's total timeout bounds it.
        _ = FetchAsync(keyId, mine);
        return mine.Task;
    }

    private async Task FetchAsync(string keyId, TaskCompletionSource<Fetched> completion)
    {
        Fetched fetched;
        try
        {
            fetched = await FetchCurrentAsync(keyId).ConfigureAwait(false);
        }
        catch (Exception exception)
        {
            // FetchCurrentAsync turns every failure into a denial; this is the backstop that keeps waiters from hanging.
            fetched = new Fetched(null, new GuardDenial(ReasonCodes.BudgetServiceUnavailable, $"the vendor secret of key '{keyId}' could not be fetched ({exception.GetType().Name})"));
        }

        _fetching.TryRemove(new KeyValuePair<string, Task<Fetched>>(keyId, completion.Task));
        completion.SetResult(fetched);
    }

    private async Task<Fetched> FetchCurrentAsync(string keyId)
    {
        for (var attempt = 1; ; attempt++)
        {
            var before = _announced.GetValueOrDefault(keyId);
            VendorSecretReply reply;
            try
            {
                reply = await _resilience.ExecuteAsync(
                    async (deadline, token) => await _client.GetVendorSecretAsync(new GetVendorSecretRequest { KeyId = keyId }, deadline: deadline, cancellationToken: token).ConfigureAwait(false),
                    CancellationToken.None).ConfigureAwait(false);
            }
            catch (RpcException exception) when (exception.StatusCode == StatusCode.PermissionDenied)
            {
                Log.VendorSecretRefused(_logger, keyId, exception.Status.Detail);
                return new Fetched(null, new GuardDenial(ReasonCodes.SecretRefused, $"the budget service refused this process the vendor secret of key '{keyId}': {exception.Status.Detail}"));
            }
            catch (RpcException exception) when (exception.StatusCode == StatusCode.NotFound)
            {
                return new Fetched(null, new GuardDenial(ReasonCodes.KeyUnknown, $"the budget service holds no vendor secret for key '{keyId}' and the process has none configured"));
            }
            catch (RpcException exception) when (BudgetServiceResilience.IsRefused(exception))
            {
                Log.BudgetServiceRefusedCredential(_logger, "GetVendorSecret", exception.Status.Detail);
                return new Fetched(null, BudgetServiceResilience.RefusedDenial(keyId, exception));
            }
            catch (RpcException exception) when (exception.StatusCode == StatusCode.Unimplemented)
            {
                Log.BudgetServiceFailed(_logger, "GetVendorSecret", nameof(RpcException), $"{exception.StatusCode}: {exception.Status.Detail}");
                return new Fetched(null, new GuardDenial(ReasonCodes.BudgetServiceUnavailable, $"the budget service does not deliver vendor secrets, and key '{keyId}' has no VendorSecret configured"));
            }
            catch (Exception exception) when (BudgetServiceResilience.IsOutage(exception))
            {
                Log.BudgetServiceUnreachable(_logger, "GetVendorSecret", exception.Message);
                return new Fetched(null, new GuardDenial(ReasonCodes.BudgetServiceUnavailable, $"the budget service cannot be reached to fetch the vendor secret of key '{keyId}', and this process has none configured"));
            }
            catch (RpcException exception)
            {
                Log.BudgetServiceFailed(_logger, "GetVendorSecret", nameof(RpcException), $"{exception.StatusCode}: {exception.Status.Detail}");
                return new Fetched(null, new GuardDenial(ReasonCodes.BudgetServiceUnavailable, $"the budget service did not deliver the vendor secret of key '{keyId}' ({exception.StatusCode}), and this process has none configured"));
            }

            if (reply.Secret.Length == 0 || reply.Version <= 0)
            {
                return new Fetched(null, new GuardDenial(ReasonCodes.BudgetServiceUnavailable, $"the budget service sent no usable vendor secret for key '{keyId}'"));
            }

            var secret = new Held(reply.Secret, reply.Version);
            var after = _announced.GetValueOrDefault(keyId);
            if (reply.Version < after.Version)
            {
                // An event announced a newer secret while the answer was on its way: calls starting now must carry
                // the new one. Ask again.
                Log.VendorSecretStale(_logger, keyId, reply.Version, after.Version);
                if (attempt < MaxStaleAnswers)
                {
                    continue;
                }

                // The service keeps answering with an older secret: it is all there is. It serves the calls waiting
                // for it (Authorize refuses it if it is really rotated) and is not kept.
                return new Fetched(secret, null);
            }

            if (after.Drops != before.Drops)
            {
                // The key was revoked (or the credential) while the answer was on its way: it serves the calls that
                // were already waiting for it, and is not kept.
                return new Fetched(secret, null);
            }

            _held[keyId] = secret;
            var now = _announced.GetValueOrDefault(keyId);
            if (now.Drops != after.Drops || now.Version > reply.Version)
            {
                // Dropped while it was being stored: the drop wins, for the calls that start from now on.
                _held.TryRemove(new KeyValuePair<string, Held>(keyId, secret));
            }
            else
            {
                Log.VendorSecretFetched(_logger, keyId, reply.Version);
            }

            return new Fetched(secret, null);
        }
    }

    /// <summary>The newest version announced for a key, and how many times its secret was dropped outright.</summary>
    private readonly record struct Announced(long Version, long Drops);

    private readonly record struct Fetched(Held? Secret, GuardDenial? Denial);

    /// <summary>
    /// A secret and its version. Not a record: nothing prints it. The last key it was put on is kept, so that the calls
    /// of a key whose policy has not changed share one <see cref="ResolvedKey"/> (and its secret's forms for redaction).
    /// </summary>
    private sealed class Held(string secret, long version)
    {
        private Pair? _last;

        public long Version { get; } = version;

        public ResolvedKey Carrying(ResolvedKey key)
        {
            if (Volatile.Read(ref _last) is { } last && ReferenceEquals(last.Base, key))
            {
                return last.Carrying;
            }

            var carrying = key.WithVendorSecret(secret, Version);
            Volatile.Write(ref _last, new Pair(key, carrying));
            return carrying;
        }

        public override string ToString() => $"vendor secret version {Version}";

        private sealed class Pair(ResolvedKey @base, ResolvedKey carrying)
        {
            public ResolvedKey Base { get; } = @base;

            public ResolvedKey Carrying { get; } = carrying;
        }
    }
}
