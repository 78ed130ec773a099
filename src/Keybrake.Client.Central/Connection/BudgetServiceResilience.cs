using Grpc.Core;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;
using Polly.Timeout;

namespace Keybrake.Client.Central;

/// <summary>
/// How calls to the budget service survive trouble: a deadline on every attempt, a few jittered retries of
/// <c>Unavailable</c> and <c>DeadlineExceeded</c> (every call the guard makes is idempotent), and a circuit
/// breaker so that an outage fails calls fast instead of making each one wait out its retries. However the
/// service fails (down, hung, refusing), a call its caller did not cancel ends in an exception
/// <see cref="IsOutage"/> recognises, never in a cancellation the caller did not ask for.
/// </summary>
internal sealed class BudgetServiceResilience
{
    private readonly KeybrakeBudgetServiceOptions _options;
    private readonly ResiliencePipeline _pipeline;

    /// <summary>
    /// Backoff, the breaker and the total budget are transport timing and run on the system clock, like gRPC's
    /// deadlines: the guard's own clock (a test's fake one, say) governs days and windows, not network waits.
    /// </summary>
    public BudgetServiceResilience(KeybrakeBudgetServiceOptions options)
    {
        var time = TimeProvider.System;
        _options = options;
        var transient = new PredicateBuilder().Handle<RpcException>(IsTransient);

        // Outermost, the total budget of one call, retries included. Each attempt's own deadline is cut to what
        // is left of it (see Attempt), so this only fires during a backoff; it is the backstop.
        var builder = new ResiliencePipelineBuilder { TimeProvider = time }
            .AddTimeout(options.TotalTimeout)

            // Outside the retries: an open circuit is not retried, it fails the call at once. And it counts calls,
            // not attempts: with several replicas, a call that failed on one replica and succeeded on another on
            // its retry succeeded. Counting its failed attempt would open the circuit for every replica as soon as
            // one of them is down.
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions
            {
                ShouldHandle = transient,
                FailureRatio = 0.5,
                MinimumThroughput = 8,
                SamplingDuration = TimeSpan.FromSeconds(10),
                BreakDuration = TimeSpan.FromSeconds(2),
            });
        if (options.MaxRetries > 0)
        {
            // A retry goes through the balancer again: with several replicas, to another one (see FailoverBalancer).
            builder.AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = transient,
                MaxRetryAttempts = options.MaxRetries,
                Delay = TimeSpan.FromMilliseconds(40),
                MaxDelay = TimeSpan.FromMilliseconds(400),
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
            });
        }

        _pipeline = builder
            .Build();
    }

    /// <summary>
    /// Runs one call to the service through the retries and the circuit breaker. <paramref name="call"/> gets the
    /// deadline of its attempt: <see cref="KeybrakeBudgetServiceOptions.CallTimeout"/> from now, cut to what is
    /// left of <see cref="KeybrakeBudgetServiceOptions.TotalTimeout"/>, so that the attempts together never
    /// overrun the total (three 2 s attempts once ran past a 5 s total, and the call ended in a raw
    /// <c>Cancelled</c>). A call its caller gave up on throws <see cref="OperationCanceledException"/>, where gRPC
    /// reports an <c>RpcException</c> with <c>Cancelled</c>: the guard's callers get the cancellation HttpClient
    /// callers expect, and the background senders stop on the exception they stop on everywhere else. A
    /// cancellation its caller did not ask for (the total budget ran out) becomes a
    /// <see cref="TimeoutRejectedException"/>: an outage.
    /// </summary>
    public async ValueTask<T> ExecuteAsync<T>(Func<DateTime, CancellationToken, ValueTask<T>> call, CancellationToken cancellationToken)
    {
        var giveUp = Now() + _options.TotalTimeout;
        try
        {
            return await _pipeline.ExecuteAsync(
                static (state, token) => state.call(Attempt(state.CallTimeout, state.giveUp), token),
                (call, _options.CallTimeout, giveUp),
                cancellationToken).ConfigureAwait(false);
        }
        catch (Exception exception) when (cancellationToken.IsCancellationRequested && IsCancellation(exception))
        {
            throw new OperationCanceledException(Detail(exception), exception, cancellationToken);
        }
        catch (Exception exception) when (IsCancellation(exception))
        {
            throw new TimeoutRejectedException($"the budget service did not answer within {_options.TotalTimeout.TotalMilliseconds:0} ms ({Detail(exception)})", exception);
        }
    }

    /// <summary>
    /// One attempt, outside the retries and the circuit breaker, with its own deadline: for the last ship at
    /// shutdown, which must try while the breaker is open (it opened during a blip the service has since
    /// recovered from) and keeps its own bound and backoff.
    /// </summary>
    public async ValueTask<T> ExecuteDirectAsync<T>(Func<DateTime, CancellationToken, ValueTask<T>> call, CancellationToken cancellationToken)
    {
        try
        {
            return await call(Attempt(_options.CallTimeout, Now() + _options.TotalTimeout), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception exception) when (cancellationToken.IsCancellationRequested && IsCancellation(exception))
        {
            throw new OperationCanceledException(Detail(exception), exception, cancellationToken);
        }
        catch (OperationCanceledException exception)
        {
            throw new TimeoutRejectedException($"the budget service did not answer ({exception.Message})", exception);
        }
    }

    /// <summary>
    /// A gRPC deadline <paramref name="timeout"/> from now. gRPC takes an absolute time and measures it against
    /// the system clock, so it comes from the system clock even when the guard runs on another one (a test's
    /// fake clock would otherwise make every deadline already past, or never due).
    /// </summary>
    public static DateTime DeadlineAfter(TimeSpan timeout) => Now() + timeout;

    /// <summary>Failures worth a retry: the service was not reached, or did not answer in time.</summary>
    public static bool IsTransient(RpcException exception) =>
        exception.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded;

    /// <summary>
    /// The service refused this process's client credential (unknown or revoked: <c>Unauthenticated</c>) or the key
    /// is outside its scope (<c>PermissionDenied</c>). Not an outage: nothing is allowed on the emergency allowance
    /// or by <c>ReadsDuringOutage</c>; the call is denied.
    /// </summary>
    public static bool IsRefused(Exception exception) =>
        exception is RpcException { StatusCode: StatusCode.Unauthenticated or StatusCode.PermissionDenied };

    /// <summary>The denial the guard gives when the service refuses the process's credential for a key.</summary>
    public static GuardDenial RefusedDenial(string keyId, RpcException exception) => new(
        ReasonCodes.KeyRevoked,
        exception.StatusCode == StatusCode.PermissionDenied
            ? $"key '{keyId}' is outside the scope of this process's client credential (Keybrake:BudgetService:ClientToken)"
            : $"the budget service refused this process's client credential: {exception.Status.Detail}");

    /// <summary>
    /// Failures that mean "the service cannot be asked right now", after retries: it was not reached, did not
    /// answer in time, failed, or the call was cancelled by anything but its caller (who gets an
    /// <see cref="OperationCanceledException"/> from <see cref="ExecuteAsync{T}"/> instead). A refusal of the
    /// credential (<see cref="IsRefused"/>) is not an outage.
    /// </summary>
    public static bool IsOutage(Exception exception) => exception switch
    {
        RpcException rpc => rpc.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded or StatusCode.Internal
            or StatusCode.Unknown or StatusCode.ResourceExhausted or StatusCode.Aborted or StatusCode.Cancelled,
        ExecutionRejectedException => true, // an open circuit, or the total budget spent
        HttpRequestException or IOException => true,
        _ => false,
    };

    /// <summary>
    /// A refusal the service will repeat however often it is asked: sending the same thing again cannot help
    /// (<c>InvalidArgument</c>, <c>PermissionDenied</c>, <c>Unimplemented</c>, <c>FailedPrecondition</c>, ...).
    /// </summary>
    public static bool IsPermanentRefusal(Exception exception) =>
        exception is RpcException rpc && !IsOutage(rpc) && rpc.StatusCode != StatusCode.OK;

    private static DateTime Now() => TimeProvider.System.GetUtcNow().UtcDateTime;

    private static DateTime Attempt(TimeSpan callTimeout, DateTime giveUp)
    {
        var full = Now() + callTimeout;
        return full < giveUp ? full : giveUp;
    }

    private static bool IsCancellation(Exception exception) =>
        exception is OperationCanceledException or RpcException { StatusCode: StatusCode.Cancelled };

    private static string Detail(Exception exception) => exception is RpcException rpc ? rpc.Status.Detail : exception.Message;
}
