using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Keybrake.Client;

/// <summary>
/// The in-process ledger for single-process apps and demos. One lock makes every reservation atomic
/// against the day and run counters; days roll over by the <see cref="TimeProvider"/> in each key's zone.
/// State lives as long as the process, bounded: a day's counter is kept for <see cref="RetainedDays"/> days
/// after it ends, a run's for <see cref="RunRetention"/> after its last call (a run idle that long starts
/// afresh), and neither while a reservation against it is pending. A denied call creates no counter.
/// </summary>
internal sealed class EmbeddedBudgetLedger : IBudgetLedger, IKeybrakeAdmin
{
    /// <summary>Settled reservations are kept this long so late retries with the same idempotency key still match.</summary>
    internal static readonly TimeSpan IdempotencyRetention = TimeSpan.FromHours(24);

    /// <summary>The most vendor objects remembered; the oldest are forgotten first.</summary>
    internal const int MaxRememberedObjects = 100_000;

    /// <summary>
    /// The most finished calls remembered for idempotency; past it the oldest are forgotten first. Forgetting
    /// only makes the ledger stricter: a very late retry of a settled call would reserve again.
    /// </summary>
    internal const int MaxRememberedCalls = 1_000_000;

    /// <summary>How many past days of spend <see cref="GetDailySpendAsync"/> can still report.</summary>
    internal const int RetainedDays = 7;

    /// <summary>How long a run's spend is kept after its last call, unless a reservation of it is pending.</summary>
    internal static readonly TimeSpan RunRetention = TimeSpan.FromHours(24);

    /// <summary>How often, at most, counters are swept on time alone (a burst of new runs sweeps sooner).</summary>
    private static readonly TimeSpan s_counterSweepInterval = TimeSpan.FromHours(1);
    private const int CounterSweepThreshold = 1024;

    private readonly Lock _gate = new();
    private readonly IKeyCatalog _catalog;
    private readonly TimeProvider _time;
    private readonly HashSet<string> _revoked = new(StringComparer.Ordinal);
    private readonly Dictionary<(string KeyId, DateOnly Day), Counter> _days = [];
    private readonly Dictionary<(string KeyId, string RunId), Counter> _runs = [];
    private readonly IdGenerator _ids;
    private readonly ILogger _logger;
    private readonly KeybrakeMetrics? _metrics;
    private DateTimeOffset _lastCounterSweep;
    private int _nextCounterSweep = CounterSweepThreshold;

    // Pending reservations are whole objects; finished ones with an idempotency key shrink to a small struct
    // kept for the retention window, so a late retry still matches without the ledger holding object graphs.
    private readonly Dictionary<string, Reservation> _pending = new(StringComparer.Ordinal);
    private readonly Dictionary<(string KeyId, string IdempotencyKey), Reservation> _pendingByIdempotencyKey = [];
    private readonly Dictionary<UInt128, FinishedCall> _finished = [];
    private readonly Queue<(UInt128 Call, DateTimeOffset FinishedAt)> _finishOrder = new();
    private readonly Dictionary<(string KeyId, string Vendor, string Id), VendorObject> _objects = [];
    private readonly Queue<(string KeyId, string Vendor, string Id)> _objectOrder = new();

    public EmbeddedBudgetLedger(IKeyCatalog catalog, TimeProvider time, IdGenerator? ids = null, ILogger<EmbeddedBudgetLedger>? logger = null, KeybrakeMetrics? metrics = null)
    {
        _catalog = catalog;
        _time = time;
        _ids = ids ?? new IdGenerator(time);
        _logger = logger ?? (ILogger)NullLogger.Instance;
        _metrics = metrics;
    }

    public ValueTask<KeyState> GetKeyStateAsync(string keyId, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return ValueTask.FromResult(_revoked.Contains(keyId) ? KeyState.Revoked : KeyState.Active);
        }
    }

    public async ValueTask<KeyResolution> ResolveKeyAsync(ResolvedKey key, string brakeKey, CancellationToken cancellationToken) =>
        new(await GetKeyStateAsync(key.Id, cancellationToken).ConfigureAwait(false), key, null);

    public ValueTask<AuthorizationResult> AuthorizeAsync(AuthorizationRequest request, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (request.Estimate.Micros < 0 || request.Estimate > Usd.MaxValue)
        {
            return ValueTask.FromResult(AuthorizationResult.Denied(
                ReasonCodes.MalformedRequest, $"the call's cost estimate must be between $0 and {Usd.MaxValue}"));
        }

        var key = _catalog.FindById(request.KeyId);
        if (key is null)
        {
            return ValueTask.FromResult(AuthorizationResult.Denied(ReasonCodes.KeyUnknown, $"key '{request.KeyId}' is not known to the ledger"));
        }

        var now = _time.GetUtcNow();
        lock (_gate)
        {
            PruneFinished(now);
            PruneCounters(now);
            if (_revoked.Contains(request.KeyId))
            {
                return ValueTask.FromResult(AuthorizationResult.Denied(ReasonCodes.KeyRevoked, $"key '{request.KeyId}' is revoked"));
            }

            var callHash = UInt128.Zero;
            if (request.IdempotencyKey is { } idempotencyKey)
            {
                (bool Found, string? Id, UInt128 RequestHash, ReservationReuse Reuse) seen = default;
                if (_pendingByIdempotencyKey.TryGetValue((request.KeyId, idempotencyKey), out var pending))
                {
                    seen = (true, pending.Id, pending.RequestHash, ReservationReuse.Pending);
                    callHash = pending.CallHash;
                }
                else
                {
                    callHash = RequestFingerprint.ForIdempotencyKey(request.KeyId, idempotencyKey);
                    if (_finished.TryGetValue(callHash, out var finished))
                    {
                        // A settled call's reservation id is not kept; its replay carries none.
                        seen = (true, null, finished.RequestHash, finished.Committed ? ReservationReuse.Settled : ReservationReuse.None);
                    }
                }

                if (seen.Found && seen.RequestHash != request.RequestHash)
                {
                    return ValueTask.FromResult(AuthorizationResult.Denied(
                        ReasonCodes.MalformedRequest,
                        $"Idempotency-Key '{idempotencyKey}' was already used for a different request; a retry must repeat the request exactly"));
                }

                // A retry of a call in flight, held, or already settled reserves nothing new: the vendor
                // de-duplicates by the same key. Only a released call (the vendor refused it) reserves again.
                if (seen.Found && seen.Reuse != ReservationReuse.None)
                {
                    return ValueTask.FromResult(AuthorizationResult.Allowed(seen.Id, seen.Reuse));
                }
            }

            // Looked up, not created: a denied call leaves nothing behind.
            var day = DayWindow.DayOf(now, key.Policy.TimeZone);
            var dayCounter = _days.GetValueOrDefault((request.KeyId, day));
            var dayCommitted = dayCounter?.Committed ?? 0;
            var estimate = request.Estimate.Micros;
            if (estimate > key.Policy.DailyCap.Micros - dayCommitted)
            {
                return ValueTask.FromResult(AuthorizationResult.Denied(
                    ReasonCodes.DailyCapExceeded,
                    $"the daily cap of {key.Policy.DailyCap} for key '{key.Id}' would be exceeded: {Usd.FromMicros(dayCommitted)} already counts against {day:yyyy-MM-dd} and this call needs {request.Estimate}"));
            }

            // Every run's spend is counted, so operators can see it; only a policy with a run cap limits it.
            var runCounter = request.RunId is { } runId ? _runs.GetValueOrDefault((request.KeyId, runId)) : null;
            if (request.RunId is not null && key.Policy.RunCap is { } runCap && estimate > runCap.Micros - (runCounter?.Committed ?? 0))
            {
                return ValueTask.FromResult(AuthorizationResult.Denied(
                    ReasonCodes.RunCapExceeded,
                    $"the per-run cap of {runCap} for key '{key.Id}' would be exceeded: run '{request.RunId}' has {Usd.FromMicros(runCounter?.Committed ?? 0)} counted and this call needs {request.Estimate}"));
            }

            dayCounter ??= GetCounter(_days, (request.KeyId, day));
            if (request.RunId is { } allowedRun)
            {
                runCounter ??= GetCounter(_runs, (request.KeyId, allowedRun));
                runCounter.LastUsed = now;
            }

            var reservation = new Reservation
            {
                Id = _ids.New("rsv_"),
                KeyId = request.KeyId,
                RunId = request.RunId,
                IdempotencyKey = request.IdempotencyKey,
                CallHash = callHash,
                RequestHash = request.RequestHash,
                Day = day,
                Estimate = estimate,
                CreatedAt = now,
            };
            dayCounter.Reserved += estimate;
            if (runCounter is not null)
            {
                runCounter.Reserved += estimate;
            }

            _pending.Add(reservation.Id, reservation);
            if (request.IdempotencyKey is { } newIdempotencyKey)
            {
                _finished.Remove(callHash); // a released call, tried again
                _pendingByIdempotencyKey[(request.KeyId, newIdempotencyKey)] = reservation;
            }

            return ValueTask.FromResult(AuthorizationResult.Allowed(reservation.Id, ReservationReuse.None));
        }
    }

    public ValueTask SettleAsync(IReadOnlyList<Settlement> settlements, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        List<Overrun>? overruns = null;
        lock (_gate)
        {
            foreach (var settlement in settlements)
            {
                if (_pending.TryGetValue(settlement.ReservationId, out var reservation))
                {
                    Settle(reservation, settlement.Kind, settlement.Actual.Micros, now, ref overruns);
                }
            }
        }

        Report(overruns);
        return ValueTask.CompletedTask;
    }

    public ValueTask<VendorObject?> FindObjectAsync(string keyId, string vendor, string objectId, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return ValueTask.FromResult(_objects.GetValueOrDefault((keyId, vendor, objectId)));
        }
    }

    /// <summary>Nothing to record: the embedded ledger's reservations live in this process, and the guard's map holds the deferral.</summary>
    public ValueTask RecordDeferralAsync(Deferral deferral, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    /// <summary>Nothing to settle: a deferral this process does not hold was made by a ledger that is gone with its reservations.</summary>
    public ValueTask SettleObjectAsync(ObjectSettlement settlement, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    public ValueTask RememberObjectsAsync(string keyId, string vendor, IReadOnlyList<VendorObject> objects, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            foreach (var item in objects)
            {
                var id = (keyId, vendor, item.Id);
                if (_objects.TryAdd(id, item))
                {
                    _objectOrder.Enqueue(id);
                    while (_objects.Count > MaxRememberedObjects && _objectOrder.TryDequeue(out var oldest))
                    {
                        _objects.Remove(oldest);
                    }
                }
                else
                {
                    _objects[id] = item;
                }
            }
        }

        return ValueTask.CompletedTask;
    }

    public ValueTask RevokeKeyAsync(string keyId, CancellationToken cancellationToken = default)
    {
        RequireKey(keyId);
        lock (_gate)
        {
            _revoked.Add(keyId);
        }

        return ValueTask.CompletedTask;
    }

    public ValueTask RestoreKeyAsync(string keyId, CancellationToken cancellationToken = default)
    {
        RequireKey(keyId);
        lock (_gate)
        {
            _revoked.Remove(keyId);
        }

        return ValueTask.CompletedTask;
    }

    public ValueTask<SpendReport> GetDailySpendAsync(string keyId, DateOnly? day = null, CancellationToken cancellationToken = default)
    {
        var key = RequireKey(keyId);
        var when = day ?? DayWindow.DayOf(_time.GetUtcNow(), key.Policy.TimeZone);
        lock (_gate)
        {
            var counter = _days.GetValueOrDefault((keyId, when)) ?? new Counter();
            return ValueTask.FromResult(new SpendReport(keyId, key.Policy.DailyCap, Usd.FromMicros(counter.Settled), Usd.FromMicros(counter.Reserved))
            {
                Day = when,
                Overrun = Usd.FromMicros(counter.Overrun),
            });
        }
    }

    public ValueTask<SpendReport> GetRunSpendAsync(string keyId, string runId, CancellationToken cancellationToken = default)
    {
        var key = RequireKey(keyId);
        ArgumentException.ThrowIfNullOrEmpty(runId);
        lock (_gate)
        {
            var counter = _runs.GetValueOrDefault((keyId, runId)) ?? new Counter();
            return ValueTask.FromResult(new SpendReport(keyId, key.Policy.RunCap, Usd.FromMicros(counter.Settled), Usd.FromMicros(counter.Reserved))
            {
                RunId = runId,
                Overrun = Usd.FromMicros(counter.Overrun),
            });
        }
    }

    public ValueTask<IReadOnlyList<UnsettledReservation>> ListUnsettledAsync(string? keyId = null, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            IReadOnlyList<UnsettledReservation> list = _pending.Values
                .Where(r => keyId is null || r.KeyId == keyId)
                .OrderBy(r => r.CreatedAt)
                .Select(r => new UnsettledReservation(r.Id, r.KeyId, r.RunId, r.IdempotencyKey, Usd.FromMicros(r.Estimate), r.Day, r.CreatedAt))
                .ToList();
            return ValueTask.FromResult(list);
        }
    }

    public ValueTask ResolveReservationAsync(string reservationId, Usd? actual, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(reservationId);
        if (actual is { Micros: < 0 })
        {
            throw new ArgumentOutOfRangeException(nameof(actual), "An actual cost cannot be negative.");
        }

        List<Overrun>? overruns = null;
        lock (_gate)
        {
            if (!_pending.TryGetValue(reservationId, out var reservation))
            {
                throw new ArgumentException($"No unsettled reservation has id '{reservationId}'.", nameof(reservationId));
            }

            Settle(reservation, actual is null ? SettlementKind.Release : SettlementKind.Commit, actual?.Micros ?? 0, _time.GetUtcNow(), ref overruns);
        }

        Report(overruns);
        return ValueTask.CompletedTask;
    }

    private static Counter GetCounter<TKey>(Dictionary<TKey, Counter> counters, TKey key)
        where TKey : notnull
    {
        if (!counters.TryGetValue(key, out var counter))
        {
            counter = new Counter();
            counters.Add(key, counter);
        }

        return counter;
    }

    private void Settle(Reservation reservation, SettlementKind kind, long actual, DateTimeOffset now, ref List<Overrun>? overruns)
    {
        if (kind == SettlementKind.Hold)
        {
            return;
        }

        var dayCounter = GetCounter(_days, (reservation.KeyId, reservation.Day));
        var runCounter = reservation.RunId is { } runId ? GetCounter(_runs, (reservation.KeyId, runId)) : null;
        if (runCounter is not null)
        {
            runCounter.LastUsed = now;
        }

        dayCounter.Reserved -= reservation.Estimate;
        if (runCounter is not null)
        {
            runCounter.Reserved -= reservation.Estimate;
        }

        var committed = kind == SettlementKind.Commit;
        if (committed)
        {
            var settled = Math.Max(0, actual);
            dayCounter.Settled += settled;
            if (runCounter is not null)
            {
                runCounter.Settled += settled;
            }

            // A price above its estimate can take settled spend past a cap the reservation fit. It is recorded
            // now, against the cap in force now, and kept with the counter: recomputing it against today's cap
            // when asked would let a cap lowered later invent an overrun that never happened (and a raised one
            // hide one that did).
            if (settled > 0 && _catalog.FindById(reservation.KeyId) is { } key)
            {
                RecordOverrun(dayCounter, key.Policy.DailyCap.Micros, key, "daily", reservation.Day.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture), ref overruns);
                if (runCounter is not null && key.Policy.RunCap is { } runCap)
                {
                    RecordOverrun(runCounter, runCap.Micros, key, "run", "run " + reservation.RunId, ref overruns);
                }
            }
        }

        _pending.Remove(reservation.Id);
        if (reservation.IdempotencyKey is { } idempotencyKey)
        {
            // Kept for the retention window as a small record, so a late retry with the key still matches.
            _pendingByIdempotencyKey.Remove((reservation.KeyId, idempotencyKey));
            _finished[reservation.CallHash] = new FinishedCall(reservation.RequestHash, committed, now);
            _finishOrder.Enqueue((reservation.CallHash, now));
        }
    }

    private static void RecordOverrun(Counter counter, long cap, ResolvedKey key, string scope, string window, ref List<Overrun>? overruns)
    {
        var over = counter.Settled - cap;
        if (over > counter.Overrun)
        {
            var added = over - counter.Overrun;
            counter.Overrun = over;
            (overruns ??= []).Add(new Overrun(key.Id, key.Vendor, scope, window, cap, counter.Settled, over, added));
        }
    }

    /// <summary>Logs and counts overruns outside the lock: never silent, and never slowing the other calls down.</summary>
    private void Report(List<Overrun>? overruns)
    {
        if (overruns is null)
        {
            return; // the common case: nothing over, nothing allocated
        }

        foreach (var overrun in overruns)
        {
            Log.OverCap(_logger, overrun.KeyId, overrun.Vendor, overrun.Scope, overrun.Cap, overrun.Window, overrun.Settled, overrun.Total);
            _metrics?.OverrunMicroUsd.Add(
                overrun.Added,
                new KeyValuePair<string, object?>("vendor", overrun.Vendor),
                new KeyValuePair<string, object?>("key", overrun.KeyId),
                new KeyValuePair<string, object?>("scope", overrun.Scope));
        }
    }

    /// <summary>Day and run counters held (tests check they stay bounded).</summary>
    internal (int Days, int Runs) CounterCount
    {
        get
        {
            lock (_gate)
            {
                return (_days.Count, _runs.Count);
            }
        }
    }

    /// <summary>
    /// Forgets the counters no one needs: days more than <see cref="RetainedDays"/> past, and runs idle for
    /// <see cref="RunRetention"/>, with nothing pending against them. Swept once an hour of the clock, or
    /// sooner once the tables have doubled since the last sweep: amortised constant time per call.
    /// </summary>
    private void PruneCounters(DateTimeOffset now)
    {
        if (now - _lastCounterSweep < s_counterSweepInterval && _days.Count + _runs.Count < _nextCounterSweep)
        {
            return;
        }

        _lastCounterSweep = now;

        // A day of slack covers every time zone: a key's day is never more than a day from UTC's.
        var oldestDay = DateOnly.FromDateTime(now.UtcDateTime).AddDays(-RetainedDays - 1);
        foreach (var (id, counter) in _days)
        {
            if (counter.Reserved == 0 && id.Day < oldestDay)
            {
                _days.Remove(id);
            }
        }

        foreach (var (id, counter) in _runs)
        {
            if (counter.Reserved == 0 && now - counter.LastUsed >= RunRetention)
            {
                _runs.Remove(id);
            }
        }

        _nextCounterSweep = Math.Max(CounterSweepThreshold, (_days.Count + _runs.Count) * 2);
    }

    private void PruneFinished(DateTimeOffset now)
    {
        while (_finishOrder.TryPeek(out var oldest) && (now - oldest.FinishedAt > IdempotencyRetention || _finished.Count > MaxRememberedCalls))
        {
            _finishOrder.Dequeue();

            // Only the entry this queue item describes: the call may have been retried and finished again since.
            if (_finished.TryGetValue(oldest.Call, out var finished) && finished.FinishedAt == oldest.FinishedAt)
            {
                _finished.Remove(oldest.Call);
            }
        }
    }

    private ResolvedKey RequireKey(string keyId)
    {
        ArgumentException.ThrowIfNullOrEmpty(keyId);
        return _catalog.FindById(keyId) ?? throw new ArgumentException($"No key has id '{keyId}'.", nameof(keyId));
    }

    private sealed class Counter
    {
        public long Settled { get; set; }

        public long Reserved { get; set; }

        public long Committed => Settled + Reserved;

        /// <summary>How far settlements took <see cref="Settled"/> past the cap in force when they were committed.</summary>
        public long Overrun { get; set; }

        /// <summary>When a call last reserved against it (runs only: they are forgotten once idle long enough).</summary>
        public DateTimeOffset LastUsed { get; set; }
    }

    /// <summary>A pending reservation: in flight, or held because its outcome is unknown.</summary>
    private sealed class Reservation
    {
        public required string Id { get; init; }

        public required string KeyId { get; init; }

        public string? RunId { get; init; }

        public string? IdempotencyKey { get; init; }

        /// <summary>The hash of (key, idempotency key) the finished call is remembered by.</summary>
        public UInt128 CallHash { get; init; }

        public UInt128 RequestHash { get; init; }

        public DateOnly Day { get; init; }

        public long Estimate { get; init; }

        public DateTimeOffset CreatedAt { get; init; }
    }

    /// <summary>
    /// What is kept of a finished call with an idempotency key: enough to answer its retries, and no object
    /// references, so a day of finished calls costs the garbage collector nothing to scan.
    /// </summary>
    private readonly record struct FinishedCall(UInt128 RequestHash, bool Committed, DateTimeOffset FinishedAt);

    /// <summary>A settlement that took a counter past its cap: <see cref="Added"/> more, <see cref="Total"/> over in all.</summary>
    private readonly record struct Overrun(string KeyId, string Vendor, string Scope, string Window, long Cap, long Settled, long Total, long Added);
}
