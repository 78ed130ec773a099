using System.Collections.Concurrent;
using Keybrake.Protocol;
using Microsoft.Extensions.Logging;

namespace Keybrake.Client.Central;

/// <summary>
/// Budget leases on the guard's side: a slice of a key's (or a run's) remaining budget held by this process, against
/// which money calls are decided here, with no round trip. Each decision is atomic under its lease's lock, makes its
/// own reservation id, and queues the call (<see cref="LeasedCall"/>) to the settlement sender before the call can
/// settle. A call that does not fit goes to Authorize, and a top-up is asked for in the background (one request at a
/// time per lease). The lease is used until its send time + TTL - margin by this process's clock, and given back when
/// idle, recalled, when the key's policy changes and at shutdown; it is dropped at once on a revocation.
/// </summary>
internal sealed class BudgetLeases : IAsyncDisposable, IDisposable
{
    /// <summary>How long the process does not ask again after the service said no, or could not be reached.</summary>
    private static readonly TimeSpan s_quiet = TimeSpan.FromSeconds(1);

    /// <summary>How long the process does not ask a service that has no Lease call (an older version).</summary>
    private static readonly TimeSpan s_notOffered = TimeSpan.FromMinutes(5);

    private static readonly TimeSpan s_sweepEvery = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan s_minIdle = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan s_minMargin = TimeSpan.FromSeconds(1);

    private readonly ConcurrentDictionary<(string KeyId, string RunId), LeaseSlot> _slots = new();
    private readonly ConcurrentDictionary<string, CallRate> _rates = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _policyVersions = new(StringComparer.Ordinal);
    private readonly LeasedReservations _reservations = new();
    private readonly Budget.BudgetClient _client;
    private readonly BudgetServiceResilience _resilience;
    private readonly KeyWatcher _watcher;
    private readonly SettleSender _settlements;
    private readonly IdGenerator _ids;
    private readonly TimeProvider _time;
    private readonly TimeProvider _clock;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly ITimer _sweep;
    private int _disposed;

    /// <param name="client">The budget service.</param>
    /// <param name="resilience">Deadlines, retries and the breaker.</param>
    /// <param name="watcher">The key event stream: its id is the holder, its events recall, revoke and change policies.</param>
    /// <param name="settlements">Where leased calls and returned leases go, in order with settlements.</param>
    /// <param name="ids">Makes lease and reservation ids.</param>
    /// <param name="time">The guard's clock, for the books (when a call was decided).</param>
    /// <param name="clock">Transport timing (the system's clock outside tests): expiry, idleness, the call rate.</param>
    /// <param name="logger">The ledger's logger.</param>
    public BudgetLeases(Budget.BudgetClient client, BudgetServiceResilience resilience, KeyWatcher watcher, SettleSender settlements, IdGenerator ids, TimeProvider time, TimeProvider clock, ILogger logger)
    {
        _client = client;
        _resilience = resilience;
        _watcher = watcher;
        _settlements = settlements;
        _ids = ids;
        _time = time;
        _clock = clock;
        _logger = logger;
        watcher.EventApplied += OnEvent;
        watcher.KeySeen += OnKeySeen;
        watcher.PolicyVersionSeen += OnPolicyVersion;
        watcher.CredentialRevoked += () => DropAll("the client credential was revoked");
        _sweep = clock.CreateTimer(_ => Sweep(), null, s_sweepEvery, s_sweepEvery);
    }

    /// <summary>LEASE_RETURNED events seen, for calls denied while leases were recalled.</summary>
    public LeaseReturnSignals Returns { get; } = new();

    /// <summary>What is left of the lease of the key (and run) here; 0 without one (tests look at it).</summary>
    public long RemainingMicros(string keyId, string? runId = null)
    {
        if (!_slots.TryGetValue((keyId, runId ?? string.Empty), out var slot))
        {
            return 0;
        }

        lock (slot.Gate)
        {
            return slot.RemainingMicros;
        }
    }

    /// <summary>The lease of the key (and run) in use here, if any (tests look at it).</summary>
    public string? LeaseOf(string keyId, string? runId = null)
    {
        if (!_slots.TryGetValue((keyId, runId ?? string.Empty), out var slot))
        {
            return null;
        }

        lock (slot.Gate)
        {
            return slot.LeaseId;
        }
    }

    /// <summary>
    /// Decides a money call on the lease of its key (and run), taking one first when the policy says so: the answer,
    /// or <see langword="null"/> when Authorize must decide it (no lease, or the call does not fit).
    /// </summary>
    /// <param name="request">The call.</param>
    /// <param name="idempotencyKey">The call's idempotency key: the vendor's, or one made for it.</param>
    /// <param name="policy">The key's policy as the service holds it (tightened by this process's), or <see langword="null"/> when the service's is not known here.</param>
    /// <param name="cancellationToken">The caller's.</param>
    public async ValueTask<AuthorizationResult?> TryDecideAsync(AuthorizationRequest request, string idempotencyKey, KeyPolicy? policy, CancellationToken cancellationToken)
    {
        if (policy is null || policy.Lease.Enabled == false || policy.DailyCap.Micros <= 0 || Volatile.Read(ref _disposed) != 0)
        {
            return null;
        }

        var fast = _rates.GetOrAdd(request.KeyId, _ => new CallRate(_clock)).Record();
        var slot = _slots.GetOrAdd((request.KeyId, request.RunId ?? string.Empty), id => new LeaseSlot(id.KeyId, id.RunId));
        var (decided, topUp) = Decide(slot, request, idempotencyKey);
        if (topUp)
        {
            _ = Ask(slot, policy); // in the background: this call goes on without waiting
        }

        if (decided is not null)
        {
            return decided;
        }

        if (topUp || (policy.Lease.Enabled is null && !fast))
        {
            return null; // a lease too small for the call, or a key not (yet) busy enough to lease
        }

        // No lease: asked for in the background; with leasing on, this call waits for the answer and decides on it.
        var asking = Ask(slot, policy);
        if (policy.Lease.Enabled != true || asking is null)
        {
            return null;
        }

        await asking.WaitAsync(cancellationToken).ConfigureAwait(false);
        return Decide(slot, request, idempotencyKey).Result;
    }

    /// <summary>A leased call settled: a retry of it is now a replay, or (released) may reserve anew.</summary>
    public void Settled(string reservationId, bool committed) => _reservations.Settled(reservationId, committed);

    private (AuthorizationResult? Result, bool TopUp) Decide(LeaseSlot slot, AuthorizationRequest request, string idempotencyKey)
    {
        lock (slot.Gate)
        {
            // A retry of a call decided on the lease: answered as Authorize would, never reserved twice.
            if (_reservations.TryGet(request.KeyId, idempotencyKey, out var seen))
            {
                if (seen.RequestHash != request.RequestHash)
                {
                    return (AuthorizationResult.Denied(
                        ReasonCodes.MalformedRequest,
                        $"Idempotency-Key '{idempotencyKey}' was already used for a different request; a retry must repeat the request exactly"), false);
                }

                return Volatile.Read(ref seen.State) == LeasedReservations.Entry.Committed
                    ? (AuthorizationResult.Allowed(null, Client.ReservationReuse.Settled, NoteFor(seen.LeaseId)), false)
                    : (AuthorizationResult.Allowed(seen.ReservationId, Client.ReservationReuse.Pending, NoteFor(seen.LeaseId)), false);
            }

            if (slot.LeaseId is not { } leaseId)
            {
                return (null, false);
            }

            var now = _clock.GetTimestamp();
            if (now >= slot.ExpiresAt)
            {
                EndLocked(slot, giveBack: true, "it expired");
                return (null, false);
            }

            var estimate = request.Estimate.Micros;
            if (estimate > slot.GrantedMicros - slot.UsedMicros)
            {
                return (null, true);
            }

            var hash = new byte[16];
            System.Buffers.Binary.BinaryPrimitives.WriteUInt128LittleEndian(hash, request.RequestHash);
            var reservationId = _ids.New("rsv_");
            var call = new LeasedCall
            {
                LeaseId = leaseId,
                ReservationId = reservationId,
                KeyId = request.KeyId,
                RunId = slot.RunId,
                IdempotencyKey = idempotencyKey,
                RequestHash = Google.Protobuf.ByteString.CopyFrom(hash),
                EstimateMicroUsd = estimate,
                DecidedAtUnixMicros = UnixMicros.From(_time.GetUtcNow()),
            };

            // Queued before the call can settle, and under the lock, so that a return of the lease comes after it.
            // A call the queue cannot take is not allowed here: the service would never count its money.
            if (!_settlements.TryEnqueueLeasedCall(call))
            {
                return (null, false);
            }

            slot.UsedMicros += estimate;
            slot.LastDecision = now;
            slot.Decided.Add(idempotencyKey);
            _reservations.Add(request.KeyId, idempotencyKey, reservationId, request.RequestHash, leaseId);
            var topUp = slot.RemainingMicros * 2 < slot.LastGrantMicros;
            return (AuthorizationResult.Allowed(reservationId, Client.ReservationReuse.None, NoteFor(leaseId)), topUp);
        }
    }

    private static string NoteFor(string leaseId) => $"decided on lease {leaseId}";

    /// <summary>Starts the request for a lease, or a top-up of the one held, unless one is under way (then that one) or it is too soon to ask.</summary>
    private Task? Ask(LeaseSlot slot, KeyPolicy policy)
    {
        var holder = _watcher.SubscriberId;
        lock (slot.Gate)
        {
            if (slot.Asking is { } underWay)
            {
                return underWay;
            }

            if (holder is null || slot.Retired || _stopping.IsCancellationRequested || _clock.GetTimestamp() < slot.QuietUntil)
            {
                return null; // no stream, no lease: a recall could not reach this process
            }

            var topUp = slot.LeaseId is not null;
            var leaseId = slot.LeaseId ?? _ids.New("lse_");
            var sequence = topUp ? slot.Sequence + 1 : 1;
            slot.Sequence = sequence;
            var request = new LeaseRequest
            {
                KeyId = slot.KeyId,
                RunId = slot.RunId,
                LeaseId = leaseId,
                Sequence = sequence,
                RequestedMicroUsd = Math.Max(1, policy.Lease.MaxSliceFor(policy.DailyCap).Micros - slot.RemainingMicros),
                Holder = holder,
            };
            var asking = Task.Run(() => AskAsync(slot, request, slot.Epoch, topUp));
            slot.Asking = asking;
            return asking;
        }
    }

    private async Task AskAsync(LeaseSlot slot, LeaseRequest request, long epoch, bool topUp)
    {
        try
        {
            var sent = _clock.GetTimestamp();
            var reply = await _resilience.ExecuteAsync(
                async (deadline, token) => await _client.LeaseAsync(request, deadline: deadline, cancellationToken: token).ConfigureAwait(false),
                _stopping.Token).ConfigureAwait(false);
            Apply(slot, request, epoch, topUp, sent, reply);
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            // shutting down
        }
        catch (Grpc.Core.RpcException exception) when (exception.StatusCode == Grpc.Core.StatusCode.Unimplemented)
        {
            // A service older than leases: asked again only now and then, so its answer does not fill the log.
            Log.LeasesNotOffered(_logger, slot.KeyId);
            lock (slot.Gate)
            {
                slot.QuietUntil = _clock.GetTimestamp() + Ticks(s_notOffered);
            }
        }
        catch (Exception exception)
        {
            // An outage, or a service without leases: calls go to Authorize, which knows what to do without one.
            Log.LeaseRequestFailed(_logger, slot.KeyId, exception is Grpc.Core.RpcException rpc ? $"{rpc.StatusCode}: {rpc.Status.Detail}" : exception.Message);
            lock (slot.Gate)
            {
                slot.QuietUntil = _clock.GetTimestamp() + Ticks(s_quiet);
            }
        }
        finally
        {
            lock (slot.Gate)
            {
                slot.Asking = null;
            }
        }
    }

    private void Apply(LeaseSlot slot, LeaseRequest request, long epoch, bool topUp, long sent, LeaseReply reply)
    {
        lock (slot.Gate)
        {
            if (slot.Epoch != epoch || (topUp && !string.Equals(slot.LeaseId, request.LeaseId, StringComparison.Ordinal)))
            {
                // The lease ended here while the request was out (recalled, revoked, given back): not used, given back.
                if (reply.Granted)
                {
                    _settlements.EnqueueReturnedLease(request.LeaseId);
                }

                return;
            }

            if (!reply.Granted)
            {
                Log.LeaseNotGranted(_logger, slot.KeyId, reply.Reason);
                if (topUp && reply.Reason == "ended")
                {
                    EndLocked(slot, giveBack: false, "the service ended it");
                }

                slot.QuietUntil = _clock.GetTimestamp() + Ticks(s_quiet);
                return;
            }

            var ttl = TimeSpan.FromMilliseconds(reply.TtlMilliseconds);
            var margin = ttl / 10 > s_minMargin ? ttl / 10 : s_minMargin;
            if (!topUp)
            {
                slot.LeaseId = request.LeaseId;
                slot.GrantedMicros = 0;
                slot.UsedMicros = 0;
                slot.LastDecision = _clock.GetTimestamp();
            }

            slot.GrantedMicros += reply.GrantedMicroUsd;
            slot.LastGrantMicros = reply.GrantedMicroUsd;
            slot.Ttl = ttl;
            slot.ExpiresAt = sent + Ticks(ttl - margin);
            Log.LeaseGranted(_logger, request.LeaseId, slot.KeyId, reply.GrantedMicroUsd, slot.RemainingMicros);
        }
    }

    /// <summary>Ends the lease held in the slot (if any): no call is decided on it from now on. Under the slot's lock.</summary>
    private void EndLocked(LeaseSlot slot, bool giveBack, string why)
    {
        slot.Epoch++;
        if (slot.LeaseId is not { } leaseId)
        {
            return;
        }

        if (giveBack)
        {
            _settlements.EnqueueReturnedLease(leaseId);
        }

        _reservations.Forget(slot.KeyId, slot.Decided);
        slot.Decided.Clear();
        slot.LeaseId = null;
        slot.GrantedMicros = 0;
        slot.UsedMicros = 0;
        slot.LastGrantMicros = 0;
        Log.LeaseEnded(_logger, leaseId, slot.KeyId, why, giveBack);
    }

    /// <summary>Ends the leases of the key (of one run, or all when <paramref name="runId"/> is null).</summary>
    private void End(string keyId, string? runId, bool giveBack, string why, bool quiet = false)
    {
        foreach (var ((slotKey, slotRun), slot) in _slots)
        {
            if (!string.Equals(slotKey, keyId, StringComparison.Ordinal) || (runId is not null && !string.Equals(slotRun, runId, StringComparison.Ordinal)))
            {
                continue;
            }

            lock (slot.Gate)
            {
                EndLocked(slot, giveBack, why);
                if (quiet)
                {
                    slot.QuietUntil = _clock.GetTimestamp() + Ticks(s_quiet);
                }
            }
        }
    }

    private void DropAll(string why)
    {
        foreach (var slot in _slots.Values)
        {
            lock (slot.Gate)
            {
                EndLocked(slot, giveBack: false, why);
            }
        }
    }

    /// <summary>Applied on the stream's loop, before the event is confirmed to the service.</summary>
    private void OnEvent(KeyEvent keyEvent)
    {
        foreach (var key in keyEvent.Keys)
        {
            switch (keyEvent.Kind)
            {
                case KeyEventKind.Revoked:
                    // The service voids the leases itself; nothing may be decided on them once the event is applied.
                    End(key.KeyId, null, giveBack: false, "the key was revoked");
                    break;
                case KeyEventKind.PolicyChanged:
                    End(key.KeyId, null, giveBack: true, "the key's policy changed");
                    break;
                case KeyEventKind.LeasesRecalled:
                    End(key.KeyId, keyEvent.RunId.Length == 0 ? null : keyEvent.RunId, giveBack: true, "the service recalled it", quiet: true);
                    break;
                case KeyEventKind.LeaseReturned:
                    Returns.Returned(key.KeyId);
                    break;
            }
        }

        if (keyEvent.Kind == KeyEventKind.ClientRevoked)
        {
            DropAll("the client credential was revoked");
        }
    }

    /// <summary>A snapshot after a reconnect may say a key was revoked (or removed) while the stream was down.</summary>
    private void OnKeySeen(WatchedKey key)
    {
        if (key.Revoked || !key.Known)
        {
            End(key.KeyId, null, giveBack: false, "the key is revoked or no longer known");
        }
    }

    /// <summary>
    /// A policy version other than the last seen (a POLICY_CHANGED event, or a snapshot after a reconnect when the
    /// policy changed while the stream was down): the leases were taken under the old policy and go back.
    /// </summary>
    private void OnPolicyVersion(string keyId, long version)
    {
        var previous = _policyVersions.GetValueOrDefault(keyId, version);
        _policyVersions[keyId] = version;
        if (previous != version)
        {
            End(keyId, null, giveBack: true, "the key's policy changed");
        }
    }

    /// <summary>Gives back leases idle for max(2 s, TTL/4), and drops expired ones.</summary>
    private void Sweep()
    {
        try
        {
            var now = _clock.GetTimestamp();
            foreach (var (id, slot) in _slots)
            {
                lock (slot.Gate)
                {
                    if (slot.LeaseId is null)
                    {
                        // Runs come and go: a run's slot with nothing under way is forgotten (a grant still on its
                        // way finds the slot retired and is given back).
                        if (slot.RunId.Length > 0 && slot.Asking is null && now >= slot.QuietUntil)
                        {
                            slot.Retired = true;
                            slot.Epoch++;
                            _slots.TryRemove(new KeyValuePair<(string, string), LeaseSlot>(id, slot));
                        }

                        continue;
                    }

                    var idle = slot.Ttl / 4 > s_minIdle ? slot.Ttl / 4 : s_minIdle;
                    if (now >= slot.ExpiresAt)
                    {
                        EndLocked(slot, giveBack: true, "it expired");
                    }
                    else if (_clock.GetElapsedTime(slot.LastDecision, now) >= idle)
                    {
                        EndLocked(slot, giveBack: true, "it was idle");
                    }
                }
            }
        }
        catch (Exception exception)
        {
            Log.LeaseSweepFailed(_logger, exception);
        }
    }

    private long Ticks(TimeSpan span) => (long)(span.TotalSeconds * _clock.TimestampFrequency);

    /// <summary>Gives every lease back, behind the calls decided on it; the ledger then flushes the settlement sender.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await _sweep.DisposeAsync().ConfigureAwait(false);
        await _stopping.CancelAsync().ConfigureAwait(false);
        foreach (var slot in _slots.Values)
        {
            Task? asking;
            lock (slot.Gate)
            {
                asking = slot.Asking;
            }

            if (asking is not null)
            {
                await asking.ConfigureAwait(false); // never throws
            }

            lock (slot.Gate)
            {
                EndLocked(slot, giveBack: true, "the process is stopping");
            }
        }
    }

    /// <summary>Synchronous disposal: the leases are not given back and run to their TTL at the service.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        _sweep.Dispose();
        _stopping.Cancel();
    }
}
