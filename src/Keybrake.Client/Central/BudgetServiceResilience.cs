using Grpc.Core;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;
using Polly.Timeout;

namespace Keybrake.Client;

/// <summary>
/// How calls to the budget service survive trouble: a deadline on every attempt, a few jittered retries of
/// <c>Unavailable</c> and <c>DeadlineExceeded</c> (every call the guard makes is idempotent), and a circuit
/// breaker so that an outage fails calls fast instead of making each one wait out its retries.
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
        // Outermost, the total budget of one call, retries included.
        var builder = new ResiliencePipelineBuilder { TimeProvider = time }.AddTimeout(options.TotalTimeout);
        if (options.MaxRetries > 0)
        {
            // Outside the breaker: an open circuit is not retried, it fails the call at once.
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
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions
            {
                ShouldHandle = transient,
                FailureRatio = 0.5,
                MinimumThroughput = 8,
                SamplingDuration = TimeSpan.FromSeconds(10),
                BreakDuration = TimeSpan.FromSeconds(2),
            })
            .Build();
    }

    /// <summary>
    /// Runs one call to the service through the retries and the circuit breaker. A call its caller gave up on
    /// throws <see cref="OperationCanceledException"/>, where gRPC reports an <c>RpcException</c> with
    /// <c>Cancelled</c>: the guard's callers get the cancellation HttpClient callers expect, and the background
    /// senders stop on the exception they stop on everywhere else. (The channel's own switch for that would also
    /// turn <c>DeadlineExceeded</c> into a cancellation, and hide it from the retries.)
    /// </summary>
    public async ValueTask<T> ExecuteAsync<T>(Func<CancellationToken, ValueTask<T>> call, CancellationToken cancellationToken)
    {
        try
        {
            return await _pipeline.ExecuteAsync(call, cancellationToken).ConfigureAwait(false);
        }
        catch (RpcException exception) when (exception.StatusCode == StatusCode.Cancelled && cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException(exception.Status.Detail, exception, cancellationToken);
        }
    }

    /// <summary>The deadline for one attempt starting now.</summary>
    public DateTime Deadline() => DeadlineAfter(_options.CallTimeout);

    /// <summary>
    /// A gRPC deadline <paramref name="timeout"/> from now. gRPC takes an absolute time and measures it against
    /// the system clock, so it comes from the system clock even when the guard runs on another one (a test's
    /// fake clock would otherwise make every deadline already past, or never due).
    /// </summary>
    public static DateTime DeadlineAfter(TimeSpan timeout) => TimeProvider.System.GetUtcNow().UtcDateTime + timeout;

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

    /// <summary>Failures that mean "the service cannot be asked right now", after retries.</summary>
    public static bool IsOutage(Exception exception) => exception switch
    {
        RpcException rpc => rpc.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded or StatusCode.Internal
            or StatusCode.Unknown or StatusCode.ResourceExhausted or StatusCode.Aborted,
        BrokenCircuitException or IsolatedCircuitException or TimeoutRejectedException => true,
        HttpRequestException => true,
        _ => false,
    };
}
