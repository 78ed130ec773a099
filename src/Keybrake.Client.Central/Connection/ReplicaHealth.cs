using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Keybrake.Client.Central;

/// <summary>
/// Which replicas of the service failed a call a moment ago: one that cannot be connected to, or answers
/// <c>Unavailable</c> (it cannot reach its database, or is shutting down). The balancer passes over them for
/// <see cref="Rest"/>, so that calls do not keep trying a replica that only fails them while the others are
/// fine; after that calls try it again, and the first it answers after its rest clears it.
/// </summary>
internal sealed class ReplicaHealth
{
    /// <summary>How long a failing replica is passed over before a call tries it again.</summary>
    public static readonly TimeSpan Rest = TimeSpan.FromSeconds(2);

    private readonly ConcurrentDictionary<(string Host, int Port), long> _failedAt = new();
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly bool _replicated;

    public ReplicaHealth(IOptions<KeybrakeBudgetServiceOptions> options, ILogger<ReplicaHealth> logger)
        : this(TimeProvider.System, logger, new BudgetServiceAddresses(options.Value).IsReplicated)
    {
    }

    /// <summary>Transport timing, on the system clock like the calls' deadlines.</summary>
    /// <param name="time">The clock of the rests.</param>
    /// <param name="logger">Where a replica passed over is logged.</param>
    /// <param name="replicated">Whether there are replicas to pass over to: with one address there are none, and nothing is noted.</param>
    internal ReplicaHealth(TimeProvider time, ILogger logger, bool replicated = true)
    {
        _time = time;
        _logger = logger;
        _replicated = replicated;
    }

    public void Failed(string host, int port, string problem)
    {
        if (!_replicated)
        {
            return;
        }

        var now = _time.GetTimestamp();
        if (_failedAt.TryGetValue((host, port), out var before) && _time.GetElapsedTime(before, now) < Rest)
        {
            return; // already resting: one log line per episode, not one per call
        }

        _failedAt[(host, port)] = now;
        Log.ReplicaPassedOver(_logger, host, port, Rest.TotalMilliseconds, problem);
    }

    /// <summary>
    /// A call the replica answered. It ends the replica's rest only once the rest is over: a replica that cannot
    /// reach its database still answers the calls that do not need it (a policy from memory, the stream's
    /// headers), and those must not bring the calls that do need it straight back.
    /// </summary>
    public void Answered(string host, int port)
    {
        if (!_failedAt.IsEmpty && _failedAt.TryGetValue((host, port), out var at) && _time.GetElapsedTime(at) >= Rest
            && _failedAt.TryRemove(new KeyValuePair<(string, int), long>((host, port), at)))
        {
            Log.ReplicaAnswering(_logger, host, port);
        }
    }

    /// <summary>
    /// The header a long stream's caller tags its call with, so that it can learn which replica served it: the
    /// balancer picks the replica below the gRPC client, and a stream's status arrives long after its headers.
    /// The header never leaves the process.
    /// </summary>
    public const string StreamTagHeader = "keybrake-stream-tag";

    private readonly ConcurrentDictionary<string, (string Host, int Port)> _streams = new(StringComparer.Ordinal);

    /// <summary>Notes the replica that a tagged stream went to.</summary>
    public void StreamSent(string tag, string host, int port) => _streams[tag] = (host, port);

    /// <summary>Forgets a tagged stream; the replica it went to, if it was sent.</summary>
    public (string Host, int Port)? StreamEnded(string tag) => _streams.TryRemove(tag, out var target) ? target : null;

    /// <summary>Whether the replica failed a call within <see cref="Rest"/>.</summary>
    public bool IsResting(string host, int port) =>
        !_failedAt.IsEmpty && _failedAt.TryGetValue((host, port), out var at) && _time.GetElapsedTime(at) < Rest;
}
