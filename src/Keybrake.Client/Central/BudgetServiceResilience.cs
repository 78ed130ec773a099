using Grpc.Core;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;

namespace Keybrake.Client;

/// <summary>
/// How calls to the budget service survive trouble: a deadline on every attempt, a few jittered retries of
/// <c>Unavailable</c> and <c>DeadlineExceeded</c> (every call the guard makes is idempotent), and a circuit
/// breaker so that an outage fails calls fast instead of making each one wait out its retries.
/// </summary>
internal sealed class BudgetServiceResilience
{
    private readonly KeybrakeBudgetServiceOptions _options;
    private readonly TimeProvider _time;

    public BudgetServiceResilience(KeybrakeBudgetServiceOptions options, TimeProvider time)
    {
        _options = options;
        _time = time;
        var transient = new PredicateBuilder().Handle<RpcException>(IsTransient);
        var builder = new ResiliencePipelineBuilder { TimeProvider = time };
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

        Pipeline = builder
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

    public ResiliencePipeline Pipeline { get; }

    /// <summary>The deadline for one attempt starting now.</summary>
    public DateTime Deadline() => _time.GetUtcNow().UtcDateTime + _options.CallTimeout;

    /// <summary>Failures worth a retry: the service was not reached, or did not answer in time.</summary>
    public static bool IsTransient(RpcException exception) =>
        exception.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded;

    /// <summary>Failures that mean "the service cannot be asked right now", after retries.</summary>
    public static bool IsOutage(Exception exception) => exception switch
    {
        RpcException rpc => rpc.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded or StatusCode.Internal
            or StatusCode.Unknown or StatusCode.ResourceExhausted or StatusCode.Aborted or StatusCode.Unauthenticated,
        BrokenCircuitException or IsolatedCircuitException => true,
        HttpRequestException => true,
        _ => false,
    };
}
