using System.Diagnostics;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Keybrake.BudgetService.Budget;
using Keybrake.Protocol;

namespace Keybrake.BudgetService.Telemetry;

/// <summary>
/// A span for every RPC the service answers, named after its method (<c>Budget/Authorize</c>), with the gRPC status;
/// for Authorize also the key, the decision and the reason, the latency histogram and the decisions and reserved spend
/// counters; for SubmitAudit the client's outbox backlog (<see cref="OutboxBacklogs"/>). It runs before the credential checks, so a refused call has its span too. Tags carry ids only: a request's
/// tokens, brake keys and secrets never become telemetry.
/// </summary>
internal sealed class RpcTelemetryInterceptor : Interceptor
{
    private readonly BudgetServiceMetrics _metrics;
    private readonly OutboxBacklogs _backlogs;

    public RpcTelemetryInterceptor(BudgetServiceMetrics metrics, OutboxBacklogs backlogs)
    {
        _metrics = metrics;
        _backlogs = backlogs;
    }

    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        using var activity = Start(context.Method);
        var started = Stopwatch.GetTimestamp();
        if (activity is not null && KeyOf(request) is { Length: > 0 } keyId)
        {
            activity.SetTag(TagNames.KeyId, keyId);
        }

        TResponse response;
        try
        {
            response = await continuation(request, context);
        }
        catch (RpcException exception)
        {
            Failed(activity, exception.StatusCode, exception.Status.Detail);
            throw;
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            Failed(activity, StatusCode.Unknown, exception.GetType().Name);
            throw;
        }

        activity?.SetTag(TagNames.GrpcStatus, (int)StatusCode.OK);
        if (request is AuthorizeRequest authorize && response is AuthorizeReply reply)
        {
            Authorized(activity, authorize, reply, Stopwatch.GetElapsedTime(started));
        }
        else if (request is SubmitAuditRequest audit)
        {
            // Taken once the service took the batch: the credential is checked, and the figure is the client's own.
            _backlogs.Report(ClientCredentialInterceptor.ClientOf(context).Id, audit.OutboxBacklog);
        }

        return response;
    }

    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        using var activity = Start(context.Method);
        try
        {
            await continuation(request, responseStream, context);
            activity?.SetTag(TagNames.GrpcStatus, (int)StatusCode.OK);
        }
        catch (RpcException exception)
        {
            Failed(activity, exception.StatusCode, exception.Status.Detail);
            throw;
        }
    }

    private static Activity? Start(string method)
    {
        // "/keybrake.budget.v1.Budget/Authorize": the service's short name and the method, as OpenTelemetry's rpc conventions name a span.
        var slash = method.LastIndexOf('/');
        var service = method[1..slash];
        var name = $"{service[(service.LastIndexOf('.') + 1)..]}/{method[(slash + 1)..]}";
        var activity = BudgetServiceMetrics.ActivitySource.StartActivity(name, ActivityKind.Internal);
        activity?.SetTag("rpc.system", "grpc");
        activity?.SetTag("rpc.service", service);
        activity?.SetTag("rpc.method", method[(slash + 1)..]);
        return activity;
    }

    private void Authorized(Activity? activity, AuthorizeRequest request, AuthorizeReply reply, TimeSpan elapsed)
    {
        var decision = reply.Allowed ? "allow" : "deny";
        var tags = new TagList { { "decision", decision }, { "reason", reply.Reason } };
        _metrics.AuthorizeDuration.Record(elapsed.TotalSeconds, tags);
        _metrics.Decisions.Add(1, tags);

        // A replay of an earlier reservation reserves nothing new.
        if (reply.Allowed && reply.Reuse == ReservationReuse.None && request.EstimateMicroUsd > 0)
        {
            _metrics.ReservedMicroUsd.Add(request.EstimateMicroUsd, new KeyValuePair<string, object?>("key", request.KeyId));
        }

        if (activity is not null)
        {
            activity.SetTag(TagNames.Decision, decision);
            if (reply.Reason.Length > 0)
            {
                activity.SetTag(TagNames.Reason, reply.Reason);
            }

            if (request.RunId.Length > 0)
            {
                activity.SetTag(TagNames.RunId, request.RunId);
            }
        }
    }

    private static void Failed(Activity? activity, StatusCode status, string detail)
    {
        if (activity is null)
        {
            return;
        }

        activity.SetTag(TagNames.GrpcStatus, (int)status);

        // The detail is the service's own refusal text (it names ids, never a token); a client's mistake is not the
        // server's error, as OpenTelemetry's conventions for gRPC servers say.
        if (status is StatusCode.Unknown or StatusCode.DeadlineExceeded or StatusCode.Unimplemented or StatusCode.Internal or StatusCode.Unavailable or StatusCode.DataLoss)
        {
            activity.SetStatus(ActivityStatusCode.Error, detail);
        }
    }

    /// <summary>The key a request names, for the span: the requests of the money path that name one key.</summary>
    private static string? KeyOf<TRequest>(TRequest request) => request switch
    {
        AuthorizeRequest authorize => authorize.KeyId,
        GetKeyPolicyRequest policy => policy.KeyId,
        RememberObjectsRequest objects => objects.KeyId,
        _ => null,
    };
}

/// <summary>
/// The tag names of the service's spans, as the guard's spans name them (documented in docs/budget-service.md). Metrics
/// take the short names the guard's metrics use: <c>decision</c>, <c>reason</c>, <c>key</c>, <c>client</c>.
/// </summary>
internal static class TagNames
{
    public const string KeyId = "keybrake.key_id";
    public const string RunId = "keybrake.run_id";
    public const string Decision = "keybrake.decision";
    public const string Reason = "keybrake.reason";
    public const string GrpcStatus = "rpc.grpc.status_code";
}
