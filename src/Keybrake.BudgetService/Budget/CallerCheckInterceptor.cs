using Grpc.Core;
using Grpc.Core.Interceptors;

namespace Keybrake.BudgetService.Budget;

/// <summary>
/// Runs <see cref="Check"/> before every unary and server-streaming call of the service it guards, so that a
/// caller who may not call is refused before the call does anything. The services have no other call shapes.
/// </summary>
internal abstract class CallerCheckInterceptor : Interceptor
{
    public sealed override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        Check(context);
        return continuation(request, context);
    }

    public sealed override Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Check(context);
        return continuation(request, responseStream, context);
    }

    /// <summary>Throws an <see cref="RpcException"/> when the caller may not make this call.</summary>
    protected abstract void Check(ServerCallContext context);
}
