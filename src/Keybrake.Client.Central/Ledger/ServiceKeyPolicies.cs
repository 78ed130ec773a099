using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Grpc.Core;
using Keybrake.Protocol;
using Microsoft.Extensions.Logging;

namespace Keybrake.Client.Central;

/// <summary>
/// In central mode the budget service holds each key's policy. This keeps the process's copy: fetched on first
/// use, kept while the key event stream says its version is current (or, with the stream down, for the staleness
/// bound), dropped when a change event arrives. A call's policy is the service's tightened by the process's own
/// (<see cref="KeyPolicy.Tightened"/>). While the service cannot be reached and the process has never seen a
/// key's policy, the process's own applies: calls that cost money fail closed anyway (Authorize cannot answer,
/// unless the emergency allowance is on), and reads follow the process's outage setting.
/// </summary>
internal sealed class ServiceKeyPolicies
{
    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly Budget.BudgetClient _client;
    private readonly BudgetServiceResilience _resilience;
    private readonly KeyWatcher _watcher;
    private readonly TimeProvider _clock;
    private readonly TimeSpan _staleness;
    private readonly ILogger _logger;

    public ServiceKeyPolicies(Budget.BudgetClient client, BudgetServiceResilience resilience, KeyWatcher watcher, TimeProvider clock, TimeSpan staleness, ILogger logger)
    {
        _client = client;
        _resilience = resilience;
        _watcher = watcher;
        _clock = clock;
        _staleness = staleness;
        _logger = logger;
        watcher.PolicyVersionSeen += (keyId, version) =>
        {
            if (_entries.TryGetValue(keyId, out var entry) && entry.Version != version)
            {
                _entries.TryRemove(keyId, out _);
            }
        };
    }

    /// <summary>The key with the policy its calls must pass, or why the call cannot go ahead.</summary>
    public async ValueTask<(ResolvedKey? Key, GuardDenial? Denial)> ResolveAsync(ResolvedKey local, string brakeKey, CancellationToken cancellationToken)
    {
        if (!_entries.TryGetValue(local.Id, out var entry) || !IsFresh(local, entry))
        {
            entry = await FetchAsync(local, entry, cancellationToken).ConfigureAwait(false);
            if (entry is null)
            {
                return (local, null);
            }
        }

        if (entry.Denial is { } denial)
        {
            return (null, denial);
        }

        if (entry.BrakeKeySha256 is { Length: > 0 } expected
            && !CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(brakeKey)), expected))
        {
            return (null, new GuardDenial(ReasonCodes.KeyUnknown, $"the brake key configured for key '{local.Id}' is not the one the budget service issued"));
        }

        return (entry.Effective, null);
    }

    /// <summary>
    /// The key's policy as the service holds it (tightened by this process's), as last resolved here; <see langword="null"/>
    /// when the service's has not been seen: only a policy the service gave may lease its budget.
    /// </summary>
    public KeyPolicy? PolicyOf(string keyId) => _entries.TryGetValue(keyId, out var entry) ? entry.Effective?.Policy : null;

    private bool IsFresh(ResolvedKey local, Entry entry)
    {
        if (!ReferenceEquals(entry.Local, local))
        {
            return false; // the process's configuration reloaded
        }

        if (_watcher.TryGet(local.Id, out _, out var version))
        {
            return version == entry.Version;
        }

        return _clock.GetElapsedTime(entry.FetchedAt) <= _staleness;
    }

    private async ValueTask<Entry?> FetchAsync(ResolvedKey local, Entry? previous, CancellationToken cancellationToken)
    {
        KeyPolicyReply reply;
        try
        {
            reply = await _resilience.ExecuteAsync(
                async (deadline, token) => await _client.GetKeyPolicyAsync(new GetKeyPolicyRequest { KeyId = local.Id }, deadline: deadline, cancellationToken: token).ConfigureAwait(false),
                cancellationToken).ConfigureAwait(false);
        }
        catch (RpcException exception) when (exception.StatusCode == StatusCode.NotFound)
        {
            var unknown = new Entry(local, null, 0, null, _clock.GetTimestamp(), new GuardDenial(ReasonCodes.KeyUnknown, $"key '{local.Id}' is not known to the budget service"));
            _entries[local.Id] = unknown;
            return unknown;
        }
        catch (Exception exception) when (BudgetServiceResilience.IsOutage(exception) || exception is RpcException { StatusCode: not StatusCode.Cancelled })
        {
            Log.BudgetServiceUnreachable(_logger, "GetKeyPolicy", exception.Message);

            // The last copy seen is better than none while the service is away; never seen means unknown.
            return previous is { Denial: null } && ReferenceEquals(previous.Local, local) ? previous : null;
        }

        var errors = new List<string>();
        var central = PolicyMessages.TryCompile(local.Id, reply.Policy, errors);
        Entry entry;
        if (central is null)
        {
            var problem = string.Join("; ", errors);
            Log.ServicePolicyRejected(_logger, local.Id, problem);
            entry = new Entry(local, null, reply.Version, null, _clock.GetTimestamp(), new GuardDenial(ReasonCodes.BudgetServiceUnavailable, $"the budget service's policy for key '{local.Id}' cannot be applied here: {problem}"));
        }
        else
        {
            var effective = local.WithPolicy(KeyPolicy.Tightened(central, local.Policy));
            entry = new Entry(local, effective, reply.Version, reply.BrakeKeySha256.ToByteArray(), _clock.GetTimestamp(), null);
        }

        _entries[local.Id] = entry;
        return entry;
    }

    private sealed record Entry(ResolvedKey Local, ResolvedKey? Effective, long Version, byte[]? BrakeKeySha256, long FetchedAt, GuardDenial? Denial);
}
