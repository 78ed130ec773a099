using Keybrake.Protocol;

namespace Keybrake.Client.TestUtilities.FakeBudget;

/// <summary>
/// Budget leases in the fake, as the proto comments describe them, with the accounting kept small: a key's spend is
/// what Authorize allowed plus every leased call's estimate plus what is left of each active lease; settlements give
/// nothing back (the tests never need it). Leases do not expire here. Every change is made under one lock.
/// </summary>
public sealed partial class FakeBudgetState
{
    private readonly object _ledger = new();
    private readonly Dictionary<string, FakeLease> _leases = new(StringComparer.Ordinal);
    private readonly List<LeaseRequest> _leaseRequests = [];
    private readonly List<LeasedCall> _leasedCalls = [];
    private readonly List<string> _returnedLeases = [];
    private readonly List<SettleRequest> _settleRequests = [];
    private readonly List<string> _journal = [];

    /// <summary>The most a single Lease request is granted; <see langword="null"/>: what was asked for (within the cap).</summary>
    public long? MaxGrantMicros { get; set; }

    /// <summary>How long a call denied while leases are recalled may wait (AuthorizeReply.recall_wait_milliseconds).</summary>
    public long RecallWaitMilliseconds { get; set; } = 2000;

    /// <summary>Every Lease request received, oldest first.</summary>
    public IReadOnlyList<LeaseRequest> LeaseRequests => Locked(() => _leaseRequests.ToList());

    /// <summary>Every leased call recorded (idempotent by reservation id), oldest first.</summary>
    public IReadOnlyList<LeasedCall> LeasedCalls => Locked(() => _leasedCalls.ToList());

    /// <summary>Every lease given back (SettleRequest.returned_leases), oldest first.</summary>
    public IReadOnlyList<string> ReturnedLeases => Locked(() => _returnedLeases.ToList());

    /// <summary>Every Settle request received, as it came (the guard's batches).</summary>
    public IReadOnlyList<SettleRequest> SettleRequests => Locked(() => _settleRequests.ToList());

    /// <summary>What happened, in order: "authorize:&lt;idempotency key&gt;:allowed|denied", "lease:&lt;id&gt;:&lt;granted&gt;", "returned:&lt;id&gt;".</summary>
    public IReadOnlyList<string> Journal => Locked(() => _journal.ToList());

    /// <summary>Sets the key's lease policy (and daily cap), as it stood before the guard started: no event.</summary>
    public FakeBudgetState SetLeasePolicy(string keyId, LeasePolicy? lease, long dailyCapMicros = 10_000_000_000)
    {
        var key = _keys[keyId];
        key.Lease = lease;
        key.DailyCapMicros = dailyCapMicros;
        return this;
    }

    /// <summary>Changes the key's lease policy and sends <c>POLICY_CHANGED</c> (a new policy version); returns the event's sequence number.</summary>
    public long ChangeLeasePolicy(string keyId, LeasePolicy? lease)
    {
        var key = _keys[keyId];
        key.Lease = lease;
        key.PolicyVersion++;
        return Push(KeyEventKind.PolicyChanged, keyId);
    }

    /// <summary>Sends <c>LEASES_RECALLED</c> for the key (and run), as the service does when it denies a call at the cap; returns the event's sequence number.</summary>
    public long Recall(string keyId, string runId = "") => Push(KeyEventKind.LeasesRecalled, keyId, runId);

    /// <summary>Changes the key's lease policy (a new policy version) with no event: a stream learns of it from its next snapshot.</summary>
    public void ChangeLeasePolicyQuietly(string keyId, LeasePolicy? lease)
    {
        var key = _keys[keyId];
        key.Lease = lease;
        key.PolicyVersion++;
    }

    /// <summary>What the key has spent or holds in leases: Authorize's reservations, leased calls, and what is left of active leases.</summary>
    public long CommittedMicros(string keyId) => Locked(() => Committed(_keys[keyId]));

    /// <summary>What is left of the lease at the service (0 once it ended).</summary>
    public long OutstandingMicros(string leaseId) => Locked(() => _leases.TryGetValue(leaseId, out var lease) ? lease.Outstanding : 0);

    /// <summary>Waits until <paramref name="done"/> holds for what the fake recorded; false after a generous wait.</summary>
    public async Task<bool> WaitForAsync(Func<FakeBudgetState, bool> done) => await Poll.UntilAsync(() => done(this), ok => ok);

    internal LeaseReply Lease(LeaseRequest request)
    {
        lock (_ledger)
        {
            _leaseRequests.Add(request);
            var reply = Decide(request);
            _journal.Add($"lease:{request.LeaseId}:{reply.GrantedMicroUsd}");
            return reply;
        }
    }

    private LeaseReply Decide(LeaseRequest request)
    {
        if (!_keys.TryGetValue(request.KeyId, out var key))
        {
            throw new Grpc.Core.RpcException(new Grpc.Core.Status(Grpc.Core.StatusCode.NotFound, $"key '{request.KeyId}' is not known to the budget service"));
        }

        var ttl = key.Lease is { HasTtlMilliseconds: true } policy ? policy.TtlMilliseconds : 30_000;
        if (_leases.TryGetValue(request.LeaseId, out var known) && request.Sequence <= known.Sequence)
        {
            return known.LastReply.Clone(); // a retry: the stored answer, nothing new granted
        }

        var refusal = key.Revoked ? "revoked"
            : key.Lease is { HasEnabled: true, Enabled: false } ? "not_leasing"
            : !_subscribers.ContainsKey(request.Holder) ? "no_stream"
            : known is { Active: false } ? "ended"
            : null;
        var grant = refusal is null ? Math.Min(Math.Min(request.RequestedMicroUsd, MaxGrantMicros ?? long.MaxValue), key.DailyCapMicros - Committed(key)) : 0;
        if (refusal is null && grant <= 0)
        {
            refusal = "near_cap";
        }

        var reply = refusal is null
            ? new LeaseReply { Granted = true, GrantedMicroUsd = grant, TtlMilliseconds = ttl, Day = "2026-01-01" }
            : new LeaseReply { Granted = false, Reason = refusal };
        if (refusal is null || known is not null)
        {
            var lease = known ?? (_leases[request.LeaseId] = new FakeLease(request.LeaseId, request.KeyId, request.RunId));
            lease.Granted += grant;
            lease.Sequence = request.Sequence;
            lease.LastReply = reply;
        }

        return reply;
    }

    internal SettleReply Settle(SettleRequest request)
    {
        var returned = new List<FakeLease>();
        var reply = new SettleReply { Changed = request.Settlements.Count };
        lock (_ledger)
        {
            _settleRequests.Add(request);
            foreach (var call in request.LeasedCalls)
            {
                if (_leasedCalls.Any(known => known.ReservationId == call.ReservationId) || !_leases.TryGetValue(call.LeaseId, out var lease) || lease.KeyId != call.KeyId)
                {
                    continue;
                }

                // The money moved: it counts whether or not the lease still covered it.
                lease.Used += call.EstimateMicroUsd;
                _leasedCalls.Add(call);
                reply.LeasedCallsRecorded++;
            }

            foreach (var leaseId in request.ReturnedLeases)
            {
                _returnedLeases.Add(leaseId);
                if (_leases.TryGetValue(leaseId, out var lease) && lease.Active)
                {
                    lease.Active = false;
                    returned.Add(lease);
                    _journal.Add($"returned:{leaseId}");
                }
            }
        }

        foreach (var lease in returned)
        {
            Push(KeyEventKind.LeaseReturned, lease.KeyId, lease.RunId);
        }

        return reply;
    }

    /// <summary>Authorize's cap check, with a recall when other leases of the key still hold budget.</summary>
    private AuthorizeReply AuthorizeAtCap(AuthorizeRequest request, FakeKey key)
    {
        bool recall;
        lock (_ledger)
        {
            if (Committed(key) + request.EstimateMicroUsd <= key.DailyCapMicros)
            {
                key.AuthorizedMicros += request.EstimateMicroUsd;
                _journal.Add($"authorize:{request.IdempotencyKey}:allowed");
                return new AuthorizeReply { Allowed = true, ReservationId = "res_" + Interlocked.Increment(ref _reservations) };
            }

            _journal.Add($"authorize:{request.IdempotencyKey}:denied");
            recall = _leases.Values.Any(lease => lease.KeyId == key.KeyId && lease.Outstanding > 0);
        }

        if (recall)
        {
            Push(KeyEventKind.LeasesRecalled, key.KeyId);
        }

        return new AuthorizeReply
        {
            Allowed = false,
            Reason = "daily_cap_exceeded",
            Message = $"key '{key.KeyId}' is at its daily cap",
            LeasesRecalled = recall,
            RecallWaitMilliseconds = recall ? RecallWaitMilliseconds : 0,
        };
    }

    /// <summary>A revoked key's leases are voided by the service.</summary>
    private void VoidLeases(string keyId)
    {
        lock (_ledger)
        {
            foreach (var lease in _leases.Values.Where(lease => lease.KeyId == keyId))
            {
                lease.Active = false;
            }
        }
    }

    private long Committed(FakeKey key) =>
        key.AuthorizedMicros + _leases.Values.Where(lease => lease.KeyId == key.KeyId).Sum(lease => lease.Used + lease.Outstanding);

    private T Locked<T>(Func<T> read)
    {
        lock (_ledger)
        {
            return read();
        }
    }

    private sealed class FakeLease(string leaseId, string keyId, string runId)
    {
        public string LeaseId { get; } = leaseId;

        public string KeyId { get; } = keyId;

        public string RunId { get; } = runId;

        public long Granted { get; set; }

        public long Used { get; set; }

        public bool Active { get; set; } = true;

        public long Sequence { get; set; }

        public LeaseReply LastReply { get; set; } = new();

        public long Outstanding => Active ? Math.Max(0, Granted - Used) : 0;
    }
}
