namespace Keybrake.Client;

/// <summary>
/// The in-process ledger for single-process apps and demos. One lock makes every reservation atomic
/// against the day and run counters; days roll over by the <see cref="TimeProvider"/> in each key's zone.
/// State lives as long as the process.
/// </summary>
internal sealed class EmbeddedBudgetLedger : IBudgetLedger, IKeybrakeAdmin
{
    /// <summary>Settled reservations are kept this long so late retries with the same idempotency key still match.</summary>
    internal static readonly TimeSpan IdempotencyRetention = TimeSpan.FromHours(24);

    /// <summary>The most vendor objects remembered; the oldest are forgotten first.</summary>
    internal const int MaxRememberedObjects = 100_000;

    private readonly Lock _gate = new();
    private readonly IKeyCatalog _catalog;
    private readonly TimeProvider _time;
    private readonly HashSet<string> _revoked = new(StringComparer.Ordinal);
    private readonly Dictionary<(string KeyId, DateOnly Day), Counter> _days = [];
    private readonly Dictionary<(string KeyId, string RunId), Counter> _runs = [];
    private readonly Dictionary<string, Reservation> _reservations = new(StringComparer.Ordinal);
    private readonly Dictionary<(string KeyId, string IdempotencyKey), Reservation> _byIdempotencyKey = [];
    private readonly Queue<Reservation> _finished = new();
    private readonly Dictionary<(string Vendor, string Id), VendorObject> _objects = [];
    private readonly Queue<(string Vendor, string Id)> _objectOrder = new();

    public EmbeddedBudgetLedger(IKeyCatalog catalog, TimeProvider time)
    {
        _catalog = catalog;
        _time = time;
    }

    public ValueTask<bool> IsRevokedAsync(string keyId, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return ValueTask.FromResult(_revoked.Contains(keyId));
        }
    }

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
            if (_revoked.Contains(request.KeyId))
            {
                return ValueTask.FromResult(AuthorizationResult.Denied(ReasonCodes.KeyRevoked, $"key '{request.KeyId}' is revoked"));
            }

            Reservation? existing = null;
            if (request.IdempotencyKey is { } idempotencyKey
                && _byIdempotencyKey.TryGetValue((request.KeyId, idempotencyKey), out existing))
            {
                if (existing.RequestHash != request.RequestHash)
                {
                    return ValueTask.FromResult(AuthorizationResult.Denied(
                        ReasonCodes.MalformedRequest,
                        $"Idempotency-Key '{idempotencyKey}' was already used for a different request; a retry must repeat the request exactly"));
                }

                // A retry of a call in flight, held, or already settled reserves nothing new: the vendor
                // de-duplicates by the same key. Only a released reservation (the vendor refused) reserves again.
                if (existing.State == ReservationState.Pending)
                {
                    return ValueTask.FromResult(AuthorizationResult.Allowed(existing.Id, ReservationReuse.Pending));
                }

                if (existing.State == ReservationState.Committed)
                {
                    return ValueTask.FromResult(AuthorizationResult.Allowed(existing.Id, ReservationReuse.Settled));
                }
            }

            var day = DayWindow.DayOf(now, key.Policy.TimeZone);
            var dayCounter = GetCounter(_days, (request.KeyId, day));
            var estimate = request.Estimate.Micros;
            if (estimate > key.Policy.DailyCap.Micros - dayCounter.Committed)
            {
                return ValueTask.FromResult(AuthorizationResult.Denied(
                    ReasonCodes.DailyCapExceeded,
                    $"the daily cap of {key.Policy.DailyCap} for key '{key.Id}' would be exceeded: {Usd.FromMicros(dayCounter.Committed)} already counts against {day:yyyy-MM-dd} and this call needs {request.Estimate}"));
            }

            // Every run's spend is counted, so operators can see it; only a policy with a run cap limits it.
            var runCounter = request.RunId is { } runId ? GetCounter(_runs, (request.KeyId, runId)) : null;
            if (runCounter is not null && key.Policy.RunCap is { } runCap && estimate > runCap.Micros - runCounter.Committed)
            {
                return ValueTask.FromResult(AuthorizationResult.Denied(
                    ReasonCodes.RunCapExceeded,
                    $"the per-run cap of {runCap} for key '{key.Id}' would be exceeded: run '{request.RunId}' has {Usd.FromMicros(runCounter.Committed)} counted and this call needs {request.Estimate}"));
            }

            var reservation = existing ?? new Reservation
            {
                Id = "rsv_" + Guid.CreateVersion7(now).ToString("N"),
                KeyId = request.KeyId,
                IdempotencyKey = request.IdempotencyKey,
                RequestHash = request.RequestHash,
            };

            // A released call retried later may belong to another run: it counts, and settles, there.
            reservation.RunId = request.RunId;
            reservation.State = ReservationState.Pending;
            reservation.Day = day;
            reservation.Estimate = estimate;
            reservation.CreatedAt = now;
            dayCounter.Reserved += estimate;
            if (runCounter is not null)
            {
                runCounter.Reserved += estimate;
            }

            if (existing is null)
            {
                _reservations.Add(reservation.Id, reservation);
                if (request.IdempotencyKey is { } newIdempotencyKey)
                {
                    _byIdempotencyKey[(request.KeyId, newIdempotencyKey)] = reservation;
                }
            }

            return ValueTask.FromResult(AuthorizationResult.Allowed(reservation.Id, ReservationReuse.None));
        }
    }

    public ValueTask SettleAsync(IReadOnlyList<Settlement> settlements, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        lock (_gate)
        {
            foreach (var settlement in settlements)
            {
                if (_reservations.TryGetValue(settlement.ReservationId, out var reservation))
                {
                    Settle(reservation, settlement.Kind, settlement.Actual.Micros, now);
                }
            }
        }

        return ValueTask.CompletedTask;
    }

    public ValueTask<VendorObject?> FindObjectAsync(string vendor, string objectId, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return ValueTask.FromResult(_objects.GetValueOrDefault((vendor, objectId)));
        }
    }

    public ValueTask RememberObjectsAsync(string vendor, IReadOnlyList<VendorObject> objects, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            foreach (var item in objects)
            {
                var id = (vendor, item.Id);
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
            return ValueTask.FromResult(new SpendReport(keyId, key.Policy.DailyCap, Usd.FromMicros(counter.Settled), Usd.FromMicros(counter.Reserved)) { Day = when });
        }
    }

    public ValueTask<SpendReport> GetRunSpendAsync(string keyId, string runId, CancellationToken cancellationToken = default)
    {
        var key = RequireKey(keyId);
        ArgumentException.ThrowIfNullOrEmpty(runId);
        lock (_gate)
        {
            var counter = _runs.GetValueOrDefault((keyId, runId)) ?? new Counter();
            return ValueTask.FromResult(new SpendReport(keyId, key.Policy.RunCap, Usd.FromMicros(counter.Settled), Usd.FromMicros(counter.Reserved)) { RunId = runId });
        }
    }

    public ValueTask<IReadOnlyList<UnsettledReservation>> ListUnsettledAsync(string? keyId = null, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            IReadOnlyList<UnsettledReservation> list = _reservations.Values
                .Where(r => r.State == ReservationState.Pending && (keyId is null || r.KeyId == keyId))
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

        lock (_gate)
        {
            if (!_reservations.TryGetValue(reservationId, out var reservation) || reservation.State != ReservationState.Pending)
            {
                throw new ArgumentException($"No unsettled reservation has id '{reservationId}'.", nameof(reservationId));
            }

            Settle(reservation, actual is null ? SettlementKind.Release : SettlementKind.Commit, actual?.Micros ?? 0, _time.GetUtcNow());
        }

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

    private void Settle(Reservation reservation, SettlementKind kind, long actual, DateTimeOffset now)
    {
        if (reservation.State != ReservationState.Pending || kind == SettlementKind.Hold)
        {
            return;
        }

        var dayCounter = GetCounter(_days, (reservation.KeyId, reservation.Day));
        var runCounter = reservation.RunId is { } runId ? GetCounter(_runs, (reservation.KeyId, runId)) : null;
        dayCounter.Reserved -= reservation.Estimate;
        if (runCounter is not null)
        {
            runCounter.Reserved -= reservation.Estimate;
        }

        if (kind == SettlementKind.Commit)
        {
            reservation.State = ReservationState.Committed;
            reservation.Actual = Math.Max(0, actual);
            dayCounter.Settled += reservation.Actual;
            if (runCounter is not null)
            {
                runCounter.Settled += reservation.Actual;
            }
        }
        else
        {
            reservation.State = ReservationState.Released;
        }

        reservation.FinishedAt = now;
        if (reservation.IdempotencyKey is null)
        {
            // Nothing can refer to a finished reservation without an idempotency key: the counters hold its
            // effect, so it is dropped now rather than kept for the retention window.
            _reservations.Remove(reservation.Id);
            return;
        }

        _finished.Enqueue(reservation);
    }

    private void PruneFinished(DateTimeOffset now)
    {
        while (_finished.TryPeek(out var oldest) && now - oldest.FinishedAt > IdempotencyRetention)
        {
            _finished.Dequeue();
            if (oldest.State == ReservationState.Pending || oldest.FinishedAt + IdempotencyRetention > now)
            {
                continue; // re-reserved after release, or finished again later: it is queued again
            }

            _reservations.Remove(oldest.Id);
            if (oldest.IdempotencyKey is { } idempotencyKey)
            {
                _byIdempotencyKey.Remove((oldest.KeyId, idempotencyKey));
            }
        }
    }

    private ResolvedKey RequireKey(string keyId)
    {
        ArgumentException.ThrowIfNullOrEmpty(keyId);
        return _catalog.FindById(keyId) ?? throw new ArgumentException($"No key has id '{keyId}'.", nameof(keyId));
    }

    private enum ReservationState
    {
        Pending,
        Committed,
        Released,
    }

    private sealed class Counter
    {
        public long Settled { get; set; }

        public long Reserved { get; set; }

        public long Committed => Settled + Reserved;
    }

    private sealed class Reservation
    {
        public required string Id { get; init; }

        public required string KeyId { get; init; }

        public string? RunId { get; set; }

        public string? IdempotencyKey { get; init; }

        public UInt128 RequestHash { get; init; }

        public ReservationState State { get; set; }

        public DateOnly Day { get; set; }

        public long Estimate { get; set; }

        public long Actual { get; set; }

        public DateTimeOffset CreatedAt { get; set; }

        public DateTimeOffset FinishedAt { get; set; }
    }
}
