using Grpc.Core;
using Grpc.Core.Interceptors;
using Keybrake.BudgetService.Hosting;

namespace Keybrake.BudgetService.Budget;

/// <summary>
/// Refuses every admin call, gRPC or REST, that does not carry the admin token, before the call does anything:
/// <c>Unauthenticated</c> (HTTP 401), with the same message whether the token was missing or wrong.
/// </summary>
internal sealed class AdminTokenInterceptor : Interceptor
{
    private readonly AdminToken _token;
    private readonly ILogger<AdminTokenInterceptor> _logger;

    public AdminTokenInterceptor(AdminToken token, ILogger<AdminTokenInterceptor> logger)
    {
        _token = token;
        _logger = logger;
    }

    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        Check(context);
        return continuation(request, context);
    }

    public override Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Check(context);
        return continuation(request, responseStream, context);
    }

    private void Check(ServerCallContext context)
    {
        if (!_token.Accepts(context.RequestHeaders.GetValue("authorization")))
        {
            Log.AdminRejected(_logger, context.Method);
            throw new RpcException(new Status(StatusCode.Unauthenticated, "a valid admin token is required (Authorization: Bearer <token>)"));
        }
    }
}
