using System.Diagnostics;
using Keybrake.Protocol;

namespace Keybrake.Client.TestUtilities.Revocation;

/// <summary>
/// A process's first call on one side of a change: for a revocation, the first read denied <c>key_revoked</c>; for
/// a restoration, the first call allowed after it. Stamps are <see cref="Stopwatch.GetTimestamp"/> (on Linux
/// <c>CLOCK_MONOTONIC</c>, shared by every process on the machine): when the call entered the guard, and when the
/// guard's answer came back.
/// </summary>
public sealed record ProcessTransition(int Process, long Started, long Returned, string Kind);

/// <summary>One revocation and restoration, with the coordinator's stamps around its admin calls and each process's first call after each.</summary>
public sealed record RevocationTrial(
    int Number,
    long RevokeCalled,
    long RevokeReturned,
    IReadOnlyList<ProcessTransition> FirstDenials,
    long RestoreStarted,
    long RestoreReturned,
    IReadOnlyList<ProcessTransition> FirstAllowed)
{
    /// <summary>From the revoke call returning to the last process's first denial: the propagation the goal is about.</summary>
    public TimeSpan Propagation => Stopwatch.GetElapsedTime(RevokeReturned, FirstDenials.Max(d => d.Returned));

    /// <summary>From the revoke call being made to the last first denial: a bound on <see cref="Propagation"/> that a late return stamp cannot shorten.</summary>
    public TimeSpan PropagationFromCall => Stopwatch.GetElapsedTime(RevokeCalled, FirstDenials.Max(d => d.Returned));

    /// <summary>How long the revoke call took, as the coordinator saw it.</summary>
    public TimeSpan RevokeCall => Stopwatch.GetElapsedTime(RevokeCalled, RevokeReturned);

    /// <summary>What the revoke call's reply said of the processes on the key event stream.</summary>
    public KeyEventDelivery? Delivery { get; init; }
}

/// <summary>An agent's summary: its counts, and what it saw of every revocation (see the agent's RevocationTracker).</summary>
public sealed record AgentRevocationSummary(
    long Frequency,
    int Calls,
    int AllowedReads,
    int AllowedCharges,
    Dictionary<string, int> Denied,
    Dictionary<string, int> Errors,
    RevocationSeen[] Revocations)
{
    /// <summary>The agent's index among the coordinator's agents.</summary>
    public int Process { get; init; }

    /// <summary>The agent's OS process id, as it labels the requests it lets through.</summary>
    public int ProcessId { get; init; }

    public int DeniedFor(string reason) => Denied.GetValueOrDefault(reason);
}

/// <summary>
/// One revocation as an agent saw it: the point is <see cref="DenialReturned"/>, the return of its first read denied
/// <c>key_revoked</c>. <see cref="AllowedAfterPoint"/> counts calls allowed that entered the guard after the point
/// and were forwarded to the vendor before the operator began restoring the key (<see cref="RestoreStarted"/>): it
/// must be 0. <see cref="AllowedAcrossRestore"/> counts those forwarded after the restoration began, which may have
/// been decided either side of it.
/// <see cref="AllowedInFlight"/> counts calls that entered before the point and came back allowed after it.
/// </summary>
public sealed record RevocationSeen(
    int Number,
    long DenialStarted,
    long DenialReturned,
    int Denied,
    long LastAllowedStartedBefore,
    int AllowedInFlight,
    long? RestoreStarted,
    int AllowedAfterPoint,
    int AllowedAcrossRestore,
    long? EarliestAllowedStartedAfter,
    long? RestoredReturned);
