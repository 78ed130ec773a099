using System.Diagnostics;
using System.Runtime.ExceptionServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Keybrake.Client;

/// <summary>
/// Decides, forwards and settles one guarded call:
/// 1. local checks (key, revocation, endpoint rules, vendor allowlists, per-request maximum, rate and loop limits);
/// 2. an atomic reservation of the estimate against the day and run caps;
/// 3. the vendor call with the real secret in place of the brake key;
/// 4. settlement from the vendor's answer, and one audit record either way.
/// </summary>
internal sealed class GuardPipeline
{
    private static readonly string[] s_noSegments = [];

    private readonly IKeyCatalog _catalog;
    private readonly IBudgetLedger _ledger;
    private readonly CallLimiter _limiter;
    private readonly AuditTrail _audit;
    private readonly KeybrakeMetrics _metrics;
    private readonly ILogger<GuardPipeline> _logger;
    private readonly IOptionsMonitor<KeybrakeOptions> _options;
    private readonly TimeProvider _time;
    private readonly IdGenerator _ids;
    private readonly DeferredReservations _deferred;
    private readonly VendorLookupSender _lookups;

    public GuardPipeline(
        IKeyCatalog catalog,
        IBudgetLedger ledger,
        CallLimiter limiter,
        AuditTrail audit,
        KeybrakeMetrics metrics,
        ILogger<GuardPipeline> logger,
        IOptionsMonitor<KeybrakeOptions> options,
        TimeProvider time,
        IdGenerator ids,
        DeferredReservations deferred)
    {
        _catalog = catalog;
        _ledger = ledger;
        _limiter = limiter;
        _audit = audit;
        _metrics = metrics;
        _logger = logger;
        _options = options;
        _time = time;
        _ids = ids;
        _deferred = deferred;
        _lookups = new VendorLookupSender(time, logger);
    }

    public async Task<HttpResponseMessage> SendAsync(
        VendorProfile vendor,
        HttpRequestMessage request,
        Func<HttpRequestMessage, CancellationToken, Task<HttpResponseMessage>> next,
        CancellationToken cancellationToken)
    {
        var options = _options.CurrentValue;
        var started = _time.GetTimestamp();
        using var activity = KeybrakeTelemetry.ActivitySource.StartActivity("keybrake.guard", ActivityKind.Internal);
        var pathIsValid = RequestPath.TryParse(request.RequestUri, out var segments, out var pathError);
        var call = new VendorCall(request, vendor.Vendor, UpperCase(request.Method.Method), segments ?? s_noSegments, _ledger, options.MaxResponseBodyBytes, _audit.IsEnabled)
        {
            RunId = KeybrakeRun.CurrentId,
            ReceivedAt = _time.GetUtcNow(),
            Profile = vendor,
            Next = next,
            Lookups = _lookups,
            LookupTimeout = options.LookupTimeout,
        };

        try
        {
            if (pathIsValid)
            {
                vendor.DescribeEndpoint(call);
            }

            var shapeError = pathIsValid ? RequestShape.Check(request, call.Method) : pathError;
            var denial = shapeError is null
                ? await CheckAsync(vendor, call, options, cancellationToken).ConfigureAwait(false)
                : new GuardDenial(ReasonCodes.MalformedRequest, shapeError);
            if (denial is { } denied)
            {
                return await DenyAsync(vendor, call, denied, options, started, activity).ConfigureAwait(false);
            }

            return await ForwardAsync(vendor, call, next, started, activity, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            call.ReturnBuffers();
        }
    }

    private static string UpperCase(string method)
    {
        foreach (var c in method)
        {
            if (char.IsAsciiLetterLower(c))
            {
                return method.ToUpperInvariant();
            }
        }

        return method; // the standard methods are upper case already: no copy
    }

    private async ValueTask<GuardDenial?> CheckAsync(VendorProfile vendor, VendorCall call, KeybrakeOptions options, CancellationToken cancellationToken)
    {
        var request = call.Request;

        // 1. The key: a brake key this process knows, for this vendor, not revoked.
        var presented = vendor.ReadBrakeKey(request);
        if (presented is null || !presented.StartsWith(KeybrakeKeyOptions.BrakeKeyPrefix, StringComparison.Ordinal))
        {
            return new GuardDenial(
                ReasonCodes.KeyUnknown,
                "the request carries no brake key; configure the SDK with a vault_key_... brake key, never with the vendor secret");
        }

        var configured = _catalog.FindByBrakeKey(presented);
        if (configured is null)
        {
            return new GuardDenial(ReasonCodes.KeyUnknown, "the brake key is not one this process knows");
        }

        var key = configured;
        if (!string.Equals(key.Vendor, vendor.Vendor, StringComparison.Ordinal))
        {
            return new GuardDenial(ReasonCodes.KeyUnknown, $"key '{key.Id}' is for {key.Vendor}, not {vendor.Vendor}");
        }

        call.Key = key;

        // Where the secret would go: only the vendor's own hosts over https, or the key's declared stand-in.
        // Checked before the ledger is asked anything, so a request aimed elsewhere sends nothing anywhere.
        if (VendorEndpoints.Check(vendor, key, request.RequestUri) is { } hostDenial)
        {
            return hostDenial;
        }

        var resolution = await _ledger.ResolveKeyAsync(key, presented, cancellationToken).ConfigureAwait(false);
        var state = resolution.State;
        if (state == KeyState.Revoked)
        {
            // The ledger says why when it is not the key itself (the service refused this process's credential).
            return resolution.Denial ?? new GuardDenial(ReasonCodes.KeyRevoked, $"key '{key.Id}' is revoked");
        }

        if (resolution.Denial is { } unresolved)
        {
            return unresolved;
        }

        // In central mode, the key with the budget service's policy (tightened by this process's own), and the
        // vendor secret the service holds for it when the process has none of its own.
        key = resolution.Key;
        call.Key = key;
        if (!key.HasVendorSecret)
        {
            return new GuardDenial(ReasonCodes.KeyUnknown, $"key '{key.Id}' has no vendor secret: neither this process's configuration nor its ledger gave one");
        }

        // 2. Endpoint rules: only the method and path are needed.
        if (key.Policy.Endpoints.Check(call.Method, call.PathSegments) is { } why)
        {
            return new GuardDenial(ReasonCodes.EndpointNotAllowed, why);
        }

        // 3. The body, bounded, then the vendor's own checks: allowlists and the cost estimate.
        if (await ReadBodyAsync(call, options.MaxRequestBodyBytes, cancellationToken).ConfigureAwait(false) is { } bodyDenial)
        {
            return bodyDenial;
        }

        // A key already at its rate limit: this call will be denied at step 5 whatever it is, so the vendor's checks,
        // which may look an object up at the vendor, are not run for it.
        if (_limiter.PeekRateLimit(key) is { } rateLimited)
        {
            return rateLimited;
        }

        if (await vendor.InspectRequestAsync(call, cancellationToken).ConfigureAwait(false) is { } vendorDenial)
        {
            return vendorDenial;
        }

        // The budget service could not be asked about the key. A call that costs money is decided by Authorize
        // (which fails closed, or spends the emergency allowance); any other call follows the key's policy. Only
        // now is it certain which kind this call is.
        if (state == KeyState.Unknown && !call.IsCostBearing && key.Policy.ReadsDuringOutage == OutageBehavior.Deny)
        {
            return new GuardDenial(
                ReasonCodes.BudgetServiceUnavailable,
                $"the budget service cannot be reached to check key '{key.Id}', and its policy denies calls that cost nothing while it is down");
        }

        // 4. The per-request maximum.
        if (call.IsCostBearing && key.Policy.PerRequestMax is { } max && call.Estimate > max)
        {
            return new GuardDenial(
                ReasonCodes.AmountOverRequestLimit,
                $"this call costs {call.Estimate}, over the per-request maximum of {max} for key '{key.Id}'");
        }

        // 5. Rate and loop limits. Reads are never loops; the hash is only computed when something needs it.
        var isRead = call.Method is "GET" or "HEAD" or "OPTIONS";
        var needsHash = call.IsCostBearing || (!isRead && key.Policy.LoopMaxRepeats > 0);
        var fingerprint = needsHash ? RequestFingerprint.Compute(call.Method, request.RequestUri!, call.Body.Span) : default;
        if (_limiter.Check(key, isRead || !needsHash ? null : fingerprint, call.IdempotencyKey) is { } limitDenial)
        {
            return limitDenial;
        }

        // 6. The reservation against the daily and per-run caps: atomic, idempotent by idempotency key.
        if (!call.IsCostBearing)
        {
            return null;
        }

        var authorization = await _ledger.AuthorizeAsync(
            new AuthorizationRequest(key.Id, call.RunId, call.IdempotencyKey, call.Estimate, fingerprint) { SecretVersion = key.SecretVersion },
            cancellationToken).ConfigureAwait(false);
        if (authorization.Denial is { Reason: ReasonCodes.SecretRotated } && key.SecretVersion > 0)
        {
            // The service rotated the key's secret past its overlap window and the ledger dropped the old one: the
            // key resolves again (fetching the new secret) and the same reservation is asked for once more. Once only:
            // a second refusal stands.
            Log.SecretRotatedRetry(_logger, key.Id, key.SecretVersion);
            var again = await _ledger.ResolveKeyAsync(configured, presented, cancellationToken).ConfigureAwait(false);
            if (again.State == KeyState.Revoked)
            {
                return again.Denial ?? new GuardDenial(ReasonCodes.KeyRevoked, $"key '{key.Id}' is revoked");
            }

            if (again.Denial is { } unresolvedAgain)
            {
                return unresolvedAgain;
            }

            if (again.Key.HasVendorSecret && again.Key.SecretVersion > key.SecretVersion)
            {
                key = again.Key;
                call.Key = key;
                authorization = await _ledger.AuthorizeAsync(
                    new AuthorizationRequest(key.Id, call.RunId, call.IdempotencyKey, call.Estimate, fingerprint) { SecretVersion = key.SecretVersion },
                    cancellationToken).ConfigureAwait(false);
            }
        }

        if (authorization.Denial is { } ledgerDenial)
        {
            return ledgerDenial;
        }

        call.ReservationId = authorization.ReservationId;
        call.Reuse = authorization.Reuse;
        call.Note = authorization.Note;
        if (authorization.Reuse == ReservationReuse.None)
        {
            _metrics.ReservedMicroUsd.Add(call.Estimate.Micros, new KeyValuePair<string, object?>("vendor", call.Vendor));
        }

        return null;
    }

    private static async ValueTask<GuardDenial?> ReadBodyAsync(VendorCall call, int maxBytes, CancellationToken cancellationToken)
    {
        if (call.Request.Content is not { } content || await call.TryLoadBodyAsync(content, maxBytes, cancellationToken).ConfigureAwait(false))
        {
            return null;
        }

        return new GuardDenial(ReasonCodes.RequestTooLarge, $"the request body is larger than the {maxBytes} bytes the guard reads");
    }

    private async ValueTask<HttpResponseMessage> ForwardAsync(
        VendorProfile vendor,
        VendorCall call,
        Func<HttpRequestMessage, CancellationToken, Task<HttpResponseMessage>> next,
        long started,
        Activity? activity,
        CancellationToken cancellationToken)
    {
        var key = call.Key!;

        // The secret goes on the request for this send only; afterwards the request carries the brake key
        // again, so a handler outside the guard that re-sends it (a retry) is checked like the first attempt.
        var brakeKeyHeader = call.Request.Headers.Authorization;
        vendor.ApplyVendorSecret(call.Request, key.VendorSecret);
        var secrets = key.SecretFormsFor(call.Request.Headers.Authorization?.Parameter);

        HttpResponseMessage response;
        try
        {
            response = await next(call.Request, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception exception)
        {
            // The vendor may or may not have acted: the reservation is held, counted as spent.
            var held = call.ReservationId is not null && call.Reuse != ReservationReuse.Settled;
            if (held)
            {
                Log.HeldUnknownOutcome(_logger, call.Method, call.EndpointTemplate, key.Id, null, call.ReservationId!);
            }

            await RecordAllowedAsync(call, status: null, held ? SettlementKind.Hold : null, Usd.Zero, exception.GetType().Name, started, activity).ConfigureAwait(false);
            throw;
        }
        finally
        {
            call.Request.Headers.Authorization = brakeKeyHeader;
        }

        VendorSettlement settlement;
        Exception? canceled = null;
        try
        {
            settlement = await vendor.InspectResponseAsync(call, response, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException exception)
        {
            // The caller gave up after the vendor answered: the money has moved (or not) regardless, so the call
            // is still settled and audited before the cancellation reaches the caller.
            canceled = exception;
            settlement = response.IsSuccessStatusCode ? VendorSettlement.Commit(call.Estimate) : VendorSettlement.Hold;
        }
        catch (Exception exception)
        {
            // Unknown is treated as spent: a success we cannot read settles at the estimate.
            Log.OutcomeUnreadable(_logger, call.Method, call.EndpointTemplate, key.Id, exception);
            settlement = response.IsSuccessStatusCode ? VendorSettlement.Commit(call.Estimate) : VendorSettlement.Hold;
        }

        SettlementKind? outcome = null;
        if (call.ReservationId is { } reservationId)
        {
            outcome = call.Reuse == ReservationReuse.Settled ? null : settlement.Kind;
            await SettleAsync(call, reservationId, settlement, key).ConfigureAwait(false);
        }

        if (call.ObjectsToRemember is { Count: > 0 } objects)
        {
            await _ledger.RememberObjectsAsync(call.KeyId, call.Vendor, objects, CancellationToken.None).ConfigureAwait(false);
        }

        var note = canceled?.GetType().Name;
        if (call.DeferredSettlements is { Count: > 0 } deferredSettlements)
        {
            note = JoinNotes(note, await SettleDeferredAsync(call, deferredSettlements).ConfigureAwait(false));
        }

        var deferred = outcome == SettlementKind.Hold && settlement.DeferredObjectId is not null;
        await RecordAllowedAsync(call, (int)response.StatusCode, outcome, settlement.Actual, note, started, activity, deferred).ConfigureAwait(false);
        if (canceled is not null)
        {
            response.Dispose();
            ExceptionDispatchInfo.Throw(canceled);
        }

        // Last, just before the SDK gets it: the guard's own reading above needs the answer as the vendor sent it.
        if (ResponseRedaction.Apply(response, secrets, call.ResponseBodyContent, call.ResponseBody))
        {
            Log.SecretRedacted(_logger, key.Id, call.Method, call.EndpointTemplate);
        }

        return response;
    }

    private async ValueTask SettleAsync(VendorCall call, string reservationId, VendorSettlement settlement, ResolvedKey key)
    {
        if (call.Reuse == ReservationReuse.Settled)
        {
            return; // a replay of a settled call: nothing new to settle
        }

        if (settlement is { Kind: SettlementKind.Hold, DeferredObjectId: { } objectId })
        {
            // Priced later: a response that reports the object's cost settles this reservation. This process keeps
            // the map; in central mode the service keeps it too, so a price seen by any process of the key (or by
            // this one after a restart) settles it.
            _deferred.Add(call.Vendor, objectId, reservationId, key.Id, call.Estimate);
            try
            {
                await _ledger.RecordDeferralAsync(new Deferral(key.Id, call.Vendor, objectId, reservationId, settlement.Refetch), CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception exception)
            {
                Log.SettleFailed(_logger, reservationId, key.Id, exception);
            }

            return;
        }

        if (settlement.Kind == SettlementKind.Hold)
        {
            Log.HeldUnknownOutcome(_logger, call.Method, call.EndpointTemplate, key.Id, null, reservationId);
            return;
        }

        try
        {
            // Settling must finish even if the caller gave up: the money has already moved or not.
            await _ledger.SettleAsync([new Settlement(reservationId, settlement.Kind, settlement.Actual)], CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception exception)
        {
            Log.SettleFailed(_logger, reservationId, key.Id, exception);
            return;
        }

        if (settlement.Kind == SettlementKind.Commit)
        {
            _metrics.SettledMicroUsd.Add(settlement.Actual.Micros, new KeyValuePair<string, object?>("vendor", call.Vendor));
        }
    }

    /// <summary>Settles the open reservations of objects whose cost this response reports; returns a note for the audit record.</summary>
    private async ValueTask<string?> SettleDeferredAsync(VendorCall call, IReadOnlyList<DeferredSettlement> reports)
    {
        string? note = null;
        foreach (var report in reports)
        {
            var kind = report.Actual is null ? SettlementKind.Release : SettlementKind.Commit;
            var actual = report.Actual ?? Usd.Zero;
            if (!_deferred.TryTake(call.Vendor, report.ObjectId, out var open))
            {
                // Not open here: settled already, or deferred by another process (or by this one before a restart). In
                // central mode the service knows the object's reservation, if the key has one, and settles it once.
                await SettleObjectAsync(new ObjectSettlement(call.KeyId, call.Vendor, report.ObjectId, kind, actual)).ConfigureAwait(false);
                continue;
            }

            try
            {
                await _ledger.SettleAsync([new Settlement(open.ReservationId, kind, actual)], CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception exception)
            {
                Log.SettleFailed(_logger, open.ReservationId, open.KeyId, exception);
                continue;
            }

            if (kind == SettlementKind.Commit)
            {
                _metrics.SettledMicroUsd.Add(actual.Micros, new KeyValuePair<string, object?>("vendor", call.Vendor));
            }

            note = JoinNotes(note, kind == SettlementKind.Commit
                ? $"settled deferred reservation {open.ReservationId} of {report.ObjectId} for key '{open.KeyId}' at {actual} (estimated {open.Estimate})"
                : $"released deferred reservation {open.ReservationId} of {report.ObjectId} for key '{open.KeyId}': the vendor charged nothing");
        }

        return note;
    }

    private async ValueTask SettleObjectAsync(ObjectSettlement settlement)
    {
        try
        {
            await _ledger.SettleObjectAsync(settlement, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception exception)
        {
            Log.ObjectSettleFailed(_logger, settlement.Vendor, settlement.ObjectId, settlement.KeyId, exception);
        }
    }

    private async ValueTask<HttpResponseMessage> DenyAsync(
        VendorProfile vendor,
        VendorCall call,
        GuardDenial denial,
        KeybrakeOptions options,
        long started,
        Activity? activity)
    {
        var endpoint = EndpointOf(call);
        var message = $"Keybrake denied {call.Method} {endpoint} ({denial.Reason}): {denial.Message}.";
        var final = denial with { Message = message };
        Log.Denied(_logger, call.Method, endpoint, call.KeyId, call.Vendor, call.RunId, denial.Reason, message);
        _metrics.Decisions.Add(1, Tag("vendor", call.Vendor), Tag("decision", "deny"), Tag("reason", denial.Reason));
        if (activity is not null)
        {
            Tag(activity, call, "deny", denial.Reason);
        }

        if (_audit.IsEnabled)
        {
            var record = NewRecord(call, "deny", started, denial.StatusCode, settlement: null, settledMicroUsd: null, denial.Reason, message);
            await _audit.WriteAsync(record, CancellationToken.None).ConfigureAwait(false);
        }

        if (options.ThrowOnDeny)
        {
            throw new KeybrakeDeniedException(denial.Reason, message, call.Key?.Id, call.Vendor, call.RunId);
        }

        var response = vendor.CreateDenialResponse(call, final);
        response.Headers.TryAddWithoutValidation(KeybrakeHeaders.Decision, denial.Reason);
        response.RequestMessage = call.Request;
        return response;
    }

    private async ValueTask RecordAllowedAsync(
        VendorCall call,
        int? status,
        SettlementKind? settlement,
        Usd actual,
        string? note,
        long started,
        Activity? activity,
        bool deferred = false)
    {
        var settlementName = settlement switch
        {
            SettlementKind.Hold when deferred => "deferred",
            SettlementKind.Commit => "commit",
            SettlementKind.Release => "release",
            SettlementKind.Hold => "hold",
            _ => call.Reuse == ReservationReuse.Settled ? "replay" : null,
        };

        Log.Allowed(_logger, call.Method, EndpointOf(call), call.KeyId, call.Vendor, call.RunId, status, call.Estimate.Micros, settlementName);
        _metrics.Decisions.Add(1, Tag("vendor", call.Vendor), Tag("decision", "allow"), Tag("reason", null));
        if (activity is not null)
        {
            Tag(activity, call, "allow", null);
            activity.SetTag("http.response.status_code", status);
        }

        if (_audit.IsEnabled)
        {
            var settled = settlement == SettlementKind.Commit ? actual.Micros : (long?)null;
            var record = NewRecord(call, "allow", started, status, settlementName, settled, reason: null, JoinNotes(call.Note, note));
            await _audit.WriteAsync(record, CancellationToken.None).ConfigureAwait(false);
        }
    }

    private AuditRecord NewRecord(
        VendorCall call,
        string decision,
        long started,
        int? status,
        string? settlement,
        long? settledMicroUsd,
        string? reason,
        string? message) => new()
    {
        RecordId = _ids.New("aud_"),
        Timestamp = call.ReceivedAt,
        HttpStatus = status,
        Settlement = settlement,
        SettledMicroUsd = settledMicroUsd,
        Reason = reason,
        Message = message,
        KeyId = call.KeyId,
        Vendor = call.Vendor,
        Host = HostOf(call.Request.RequestUri),
        Method = call.Method,
        Endpoint = EndpointOf(call),
        Parameters = call.Parameters,
        EstimatedMicroUsd = call.IsCostBearing ? call.Estimate.Micros : 0,
        Decision = decision,
        ReservationId = call.ReservationId,
        RunId = call.RunId,
        IdempotencyKey = call.IdempotencyKey,
        LatencyMicroseconds = (long)_time.GetElapsedTime(started).TotalMicroseconds,
    };

    // Host and port, the port only when it is not the scheme's default; never a user name, path or query.
    // Uri caches Host, so the common case (a vendor host on its default port) makes no new string.
    private static string? HostOf(Uri? uri) => uri is { IsAbsoluteUri: true } ? (uri.IsDefaultPort ? uri.Host : uri.Authority) : null;

    private static string? JoinNotes(string? first, string? second) =>
        first is null ? second : second is null ? first : $"{first}; {second}";

    private static string EndpointOf(VendorCall call) =>
        call.EndpointTemplate.Length > 0 ? call.EndpointTemplate : RequestPath.Join(call.PathSegments);

    private static KeyValuePair<string, object?> Tag(string name, object? value) => new(name, value);

    private static void Tag(Activity activity, VendorCall call, string decision, string? reason)
    {
        activity.SetTag("keybrake.vendor", call.Vendor);
        activity.SetTag("keybrake.key_id", call.KeyId);
        activity.SetTag("keybrake.endpoint", EndpointOf(call));
        activity.SetTag("keybrake.decision", decision);
        activity.SetTag("keybrake.reason", reason);
        activity.SetTag("keybrake.run_id", call.RunId);
        activity.SetTag("keybrake.estimate_micro_usd", call.Estimate.Micros);
        if (reason is not null)
        {
            activity.SetStatus(ActivityStatusCode.Error, reason);
        }
    }
}
