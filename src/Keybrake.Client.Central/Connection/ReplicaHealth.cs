using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Keybrake.Client.Central;

/// <summary>
/// Which replicas of the service failed a call a moment ago: one that cannot be connected to, or answers
/// <c>Unavailable</c> (it cannot reach its database, or is shutting down). The balancer passes over them for
/// <see cref="Rest"/>, so that calls do not keep trying a replica that only fails them while the others are
/// fine; after that one call tries it again, and a call it answers clears it.
/// </summary>
internal sealed class ReplicaHealth
{
    /// <summary>How long a failing replica is passed over before a call tries it again.</summary>
    public static readonly TimeSpan Rest = TimeSpan.FromSeconds(2);

    private readonly ConcurrentDictionary<(string Host, int Port), long> _failedAt = new();
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    public ReplicaHealth(ILogger<ReplicaHealth> logger)
        : this(TimeProvider.System, logger)
    {
    }

    /// <summary>Transport timing, on the system clock like the calls' deadlines.</summary>
    internal ReplicaHealth(TimeProvider time, ILogger logger)
    {
        _time = time;
        _logger = logger;
    }

    public void Failed(string host, int port, string problem)
    {
        var now = _time.GetTimestamp();
        if (_failedAt.TryGetValue((host, port), out var before) && _time.GetElapsedTime(before, now) < Rest)
        {
            return; // already resting: one log line per episode, not one per call
        }

        _failedAt[(host, port)] = now;
        Log.ReplicaPassedOver(_logger, host, port, Rest.TotalMilliseconds, problem);
    }

    public void Answered(string host, int port)
    {
        if (!_failedAt.IsEmpty && _failedAt.TryRemove((host, port), out _))
        {
            Log.ReplicaAnswering(_logger, host, port);
        }
    }

    /// <summary>Whether the replica failed a call within <see cref="Rest"/>.</summary>
    public bool IsResting(string host, int port) =>
        !_failedAt.IsEmpty && _failedAt.TryGetValue((host, port), out var at) && _time.GetElapsedTime(at) < Rest;
}
