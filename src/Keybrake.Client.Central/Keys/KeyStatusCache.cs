using System.Collections.Concurrent;
using Grpc.Core;
using Keybrake.Protocol;
using Microsoft.Extensions.Logging;

namespace Keybrake.Client.Central;

/// <summary>
/// Each key's revocation status: from the key event stream while it is current, else as the budget service
/// last answered, trusted for a short while. Calls that move money do not rely on it: Authorize checks
/// revocation inside the reservation.
/// </summary>
internal sealed class KeyStatusCache
{
    private readonly ConcurrentDictionary<string, (KeyState State, long Expires)> _states = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _refusals = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;
    private readonly TimeSpan _duration;
    private readonly ILogger _logger;
    private readonly KeyWatcher _watcher;

    public KeyStatusCache(TimeProvider time, TimeSpan duration, KeyWatcher watcher, ILogger logger)
    {
        _time = time;
        _duration = duration;
        _watcher = watcher;
        _logger = logger;

        // A key event supersedes whatever the service said before it: were the stream to go quiet later, the
        // answer asked for then must not be one from before the event.
        _watcher.PolicyVersionSeen += (keyId, _) => _states.TryRemove(keyId, out var _);
    }

    /// <summary>Why the key counts as revoked when the reason is this process's credential rather than the key; <see langword="null"/> otherwise.</summary>
    public string? RefusalFor(string keyId) =>
        _watcher.CredentialRefused
            ? "the budget service no longer accepts this process's client credential (Keybrake:BudgetService:ClientToken): it was revoked, or is not scoped to the key"
            : _refusals.GetValueOrDefault(keyId);

    public async ValueTask<KeyState> GetAsync(string keyId, Budget.BudgetClient client, BudgetServiceResilience resilience, CancellationToken cancellationToken)
    {
        // The event stream, while it is current, is the freshest view there is: a revocation lands here the
        // moment the service sends it. Only without it does the process ask.
        _watcher.EnsureStarted();
        if (_watcher.CredentialRefused)
        {
            return KeyState.Revoked; // the service said no to this process: nothing cached before that counts
        }

        if (_watcher.TryGet(keyId, out var revoked, out _))
        {
            return revoked ? KeyState.Revoked : KeyState.Active;
        }

        var now = _time.GetTimestamp();
        if (_states.TryGetValue(keyId, out var cached) && now < cached.Expires)
        {
            return cached.State;
        }

        try
        {
            var reply = await resilience.ExecuteAsync(
                async (deadline, token) => await client.GetKeyStatusAsync(new KeyStatusRequest { KeyIds = { keyId } }, deadline: deadline, cancellationToken: token).ConfigureAwait(false),
                cancellationToken).ConfigureAwait(false);
            _refusals.TryRemove(keyId, out _);
            var status = reply.Keys.FirstOrDefault();
            var state = status is { Revoked: true } ? KeyState.Revoked : KeyState.Active;
            _states[keyId] = (state, now + (long)(_duration.TotalSeconds * _time.TimestampFrequency));
            return state;
        }
        catch (RpcException exception) when (BudgetServiceResilience.IsRefused(exception))
        {
            // The service refuses this process's credential (revoked, or not scoped to the key): the key may not be
            // used here, reads included, whatever the policy says about outages.
            Log.BudgetServiceRefusedCredential(_logger, "GetKeyStatus", exception.Status.Detail);
            _refusals[keyId] = BudgetServiceResilience.RefusedDenial(keyId, exception).Message;
            _states[keyId] = (KeyState.Revoked, now + (long)(_duration.TotalSeconds * _time.TimestampFrequency));
            return KeyState.Revoked;
        }
        catch (Exception exception) when (BudgetServiceResilience.IsOutage(exception) || exception is RpcException { StatusCode: not StatusCode.Cancelled })
        {
            Log.BudgetServiceUnreachable(_logger, "GetKeyStatus", exception.Message);

            // A key last seen revoked stays revoked; anything else is unknown until the service answers.
            return cached.State == KeyState.Revoked ? KeyState.Revoked : KeyState.Unknown;
        }
    }
}
