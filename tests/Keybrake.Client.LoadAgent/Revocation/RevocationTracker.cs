using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Keybrake.Client.LoadAgent.Revocation;

/// <summary>Reads depend on the key event stream alone; charges are also checked by Authorize at the service.</summary>
internal enum CallKind
{
    Read,
    Charge,
}

/// <summary>
/// Follows the key's state as this process's calls see it and reports each change on standard output:
/// <c>allowed 0 &lt;started&gt; &lt;returned&gt; &lt;kind&gt;</c> for the first allowed call,
/// <c>revoked n &lt;returned&gt; &lt;started&gt; read</c> for the first read denied <c>key_revoked</c> after the n-th
/// revocation, and <c>allowed n &lt;started&gt; &lt;returned&gt; &lt;kind&gt;</c> for the first call allowed after it.
/// At the end, <see cref="ToJson"/> gives the counts and, for every revocation, what is needed to check that no call
/// was allowed after it.
/// </summary>
/// <remarks>
/// <para>
/// Every time here is a <see cref="Stopwatch.GetTimestamp"/>. On Linux that is <c>CLOCK_MONOTONIC</c>: one clock
/// for every process on the machine, so the coordinator compares these stamps with its own (the revoke call
/// returning) as they are. (On Windows, QueryPerformanceCounter is also system-wide.)
/// </para>
/// <para>
/// The rule. A call's guard decision falls between the moment it entered the guard (<c>started</c>) and the moment
/// the guard's answer came back (<c>returned</c>). The point of a revocation in this process is the return of the
/// first read denied <c>key_revoked</c> (a read is denied only by the process's own copy of the key's state, which
/// the event stream updates): by then the process had applied it. From then on the process's copy says revoked
/// until a restoration arrives. So a call that <em>started</em> after the point (decided after it) and was
/// <em>forwarded</em> to the vendor before the operator began restoring the key (decided before the restoration
/// could count) is a violation. Calls that started before the point and came back allowed after it were decided
/// earlier (in flight): counted, not violations. Calls that started after the point but were forwarded only after
/// the restoration began (a thread descheduled between entering the guard and its check, on a busy machine) may
/// have been decided either side of the restoration: counted apart, not violations. The rule never blames a call
/// that could have been decided legitimately, and catches every allowed call whose whole passage through the guard
/// lay between the point and the restoration; the few microseconds between the first denial's decision and its
/// return are the only blind spot.
/// </para>
/// <para>
/// The return stamp is taken under the lock, so records are handled in the order of their return stamps: a call
/// that started after the point is always handled after the denial that set it.
/// </para>
/// </remarks>
internal sealed class RevocationTracker(TextWriter output)
{
    private const string Revoked = "key_revoked";

    private readonly Lock _lock = new();
    private readonly List<Epoch> _epochs = [];
    private readonly Dictionary<string, int> _denied = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _errors = new(StringComparer.Ordinal);
    private bool _recording;
    private bool _allowedSeen;
    private long _latestAllowedStart;
    private int _calls;
    private int _allowedReads;
    private int _allowedCharges;

    /// <summary>From now on, calls count (the warm-up before this does not).</summary>
    public void Start()
    {
        lock (_lock)
        {
            _recording = true;
        }
    }

    /// <summary>The guard's answer to one call came back.</summary>
    /// <param name="kind">A read or a charge.</param>
    /// <param name="started">When the call entered the guard.</param>
    /// <param name="forwarded">When the guard let it through to the vendor; 0 when it did not.</param>
    /// <param name="denial">The guard's reason code, or <see langword="null"/> when it let the call through.</param>
    /// <param name="failed">The call went through but the stand-in did not answer it properly.</param>
    public void Record(CallKind kind, long started, long forwarded, string? denial, bool failed)
    {
        lock (_lock)
        {
            var returned = Stopwatch.GetTimestamp();
            if (!_recording)
            {
                return;
            }

            _calls++;
            if (failed)
            {
                Count(_errors, denial is null ? "forwarded_no_answer" : denial);
            }

            if (denial is null)
            {
                Allowed(kind, started, forwarded, returned);
            }
            else if (!failed)
            {
                Count(_denied, denial);
                if (denial == Revoked && kind == CallKind.Read)
                {
                    DeniedRevoked(started, returned);
                }
            }
        }
    }

    /// <summary>The operator begins restoring the key after the <paramref name="number"/>-th revocation at <paramref name="timestamp"/>.</summary>
    public void Restoring(int number, long timestamp)
    {
        lock (_lock)
        {
            if (number < 1 || number > _epochs.Count)
            {
                Console.Error.WriteLine($"restoring {number}: this process has seen {_epochs.Count} revocations");
                return;
            }

            var epoch = _epochs[number - 1];
            epoch.RestoreStarted = timestamp;
            foreach (var (started, forwarded) in epoch.Unclassified)
            {
                Classify(epoch, started, forwarded);
            }

            epoch.Unclassified.Clear();
        }
    }

    public string ToJson()
    {
        lock (_lock)
        {
            return JsonSerializer.Serialize(
                new RevocationSummary(
                    Stopwatch.Frequency,
                    _calls,
                    _allowedReads,
                    _allowedCharges,
                    new SortedDictionary<string, int>(_denied, StringComparer.Ordinal),
                    new SortedDictionary<string, int>(_errors, StringComparer.Ordinal),
                    [.. _epochs.Select(e => new RevocationEpoch(
                        e.Number,
                        e.DenialStarted,
                        e.DenialReturned,
                        e.Denied,
                        e.LastAllowedStartedBefore,
                        e.AllowedInFlight,
                        e.RestoreStarted,

                        // Never told of a restoration: every allowed call after the point is one too many.
                        e.AllowedAfterPoint + e.Unclassified.Count,
                        e.AllowedAcrossRestore,
                        e.EarliestAllowedStartedAfter,
                        e.RestoredReturned))]),
                JsonSerializerOptions.Web);
        }
    }

    private static void Count(Dictionary<string, int> counts, string what) => counts[what] = counts.GetValueOrDefault(what) + 1;

    private static void Classify(Epoch epoch, long started, long forwarded)
    {
        if (forwarded < epoch.RestoreStarted)
        {
            epoch.AllowedAfterPoint++;
        }
        else if (started < epoch.RestoreStarted)
        {
            epoch.AllowedAcrossRestore++;
        }
    }

    private void Allowed(CallKind kind, long started, long forwarded, long returned)
    {
        if (kind == CallKind.Read)
        {
            _allowedReads++;
        }
        else
        {
            _allowedCharges++;
        }

        // The last revocation whose point came before the call started, and the first whose point came after.
        var index = _epochs.FindLastIndex(e => e.DenialReturned < started);
        var before = index < 0 ? null : _epochs[index];
        var after = index + 1 < _epochs.Count ? _epochs[index + 1] : null;
        if (after is not null)
        {
            // Started before that point, came back after it: decided before it, in flight.
            after.AllowedInFlight++;
            after.LastAllowedStartedBefore = Math.Max(after.LastAllowedStartedBefore, started);
        }

        if (before is null)
        {
            if (!_allowedSeen)
            {
                _allowedSeen = true;
                Print($"allowed 0 {started} {returned} {Name(kind)}");
            }
        }
        else
        {
            if (before.RestoredReturned is null)
            {
                before.RestoredReturned = returned;
                Print($"allowed {before.Number} {started} {returned} {Name(kind)}");
            }

            before.EarliestAllowedStartedAfter = Math.Min(before.EarliestAllowedStartedAfter ?? long.MaxValue, started);
            if (before.RestoreStarted is not null)
            {
                Classify(before, started, forwarded);
            }
            else
            {
                before.Unclassified.Add((started, forwarded)); // until the coordinator says when it began restoring
            }
        }

        _latestAllowedStart = Math.Max(_latestAllowedStart, started);
    }

    private void DeniedRevoked(long started, long returned)
    {
        var current = _epochs.Count == 0 ? null : _epochs[^1];

        // A read that started after this process saw the key come back, and was denied: a new revocation. One that
        // started earlier is a denial of the current one, only late.
        if (current is null || (current.RestoredReturned is { } back && started > back))
        {
            var epoch = new Epoch(_epochs.Count + 1, started, returned) { LastAllowedStartedBefore = _latestAllowedStart };
            _epochs.Add(epoch);
            Print($"revoked {epoch.Number} {returned} {started} read");
        }
        else
        {
            current.Denied++;
        }
    }

    private void Print(FormattableString line)
    {
        output.WriteLine(line.ToString(CultureInfo.InvariantCulture));
        output.Flush();
    }

    private static string Name(CallKind kind) => kind == CallKind.Read ? "read" : "charge";

    private sealed class Epoch(int number, long denialStarted, long denialReturned)
    {
        public int Number { get; } = number;

        public long DenialStarted { get; } = denialStarted;

        public long DenialReturned { get; } = denialReturned;

        public int Denied { get; set; } = 1;

        public long LastAllowedStartedBefore { get; set; }

        public int AllowedInFlight { get; set; }

        public long? RestoreStarted { get; set; }

        public int AllowedAfterPoint { get; set; }

        public int AllowedAcrossRestore { get; set; }

        public long? EarliestAllowedStartedAfter { get; set; }

        public long? RestoredReturned { get; set; }

        /// <summary>When calls allowed after the point were forwarded, before the coordinator said when it began restoring.</summary>
        public List<(long Started, long Forwarded)> Unclassified { get; } = [];
    }
}

/// <summary>The agent's summary in revocation mode: one JSON line on standard output at the end.</summary>
internal sealed record RevocationSummary(
    long Frequency,
    int Calls,
    int AllowedReads,
    int AllowedCharges,
    SortedDictionary<string, int> Denied,
    SortedDictionary<string, int> Errors,
    RevocationEpoch[] Revocations);

/// <summary>
/// One revocation as the process saw it (stamps are <see cref="Stopwatch.GetTimestamp"/>): the first read denied
/// <c>key_revoked</c> (its start, and its return, which is the point), the denials after it, the latest start of
/// an allowed call that started before the point and how many of those came back after it (in flight), when the
/// operator began restoring, how many calls were allowed that started after the point and were forwarded before
/// that (must be 0), how many started after the point and before the restoration began but were forwarded after
/// it began (either side), the earliest start of any allowed call after the point, and when the first of those came back.
/// </summary>
internal sealed record RevocationEpoch(
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
