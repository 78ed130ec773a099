using Grpc.Core;
using Grpc.Core.Interceptors;

namespace Keybrake.Client.Central;

/// <summary>
/// Puts the process's client credential on every call to the budget service. Made once per gRPC client, with the
/// credential already read, so that nothing is resolved from the container while it is being disposed (the last
/// settlements and audit records are sent then).
/// </summary>
internal sealed class CredentialHeaderInterceptor : Interceptor
{
    private readonly string? _header;

    public CredentialHeaderInterceptor(ClientCredential credential) => _header = credential.AuthorizationHeader;

    public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(TRequest request, ClientInterceptorContext<TRequest, TResponse> context, AsyncUnaryCallContinuation<TRequest, TResponse> continuation) =>
        continuation(request, WithCredential(context));

    public override AsyncServerStreamingCall<TResponse> AsyncServerStreamingCall<TRequest, TResponse>(TRequest request, ClientInterceptorContext<TRequest, TResponse> context, AsyncServerStreamingCallContinuation<TRequest, TResponse> continuation) =>
        continuation(request, WithCredential(context));

    private ClientInterceptorContext<TRequest, TResponse> WithCredential<TRequest, TResponse>(ClientInterceptorContext<TRequest, TResponse> context)
        where TRequest : class
        where TResponse : class
    {
        if (_header is null)
        {
            return context;
        }

        var headers = context.Options.Headers ?? [];
        headers.Add("authorization", _header);
        return new ClientInterceptorContext<TRequest, TResponse>(context.Method, context.Host, context.Options.WithHeaders(headers));
    }
}
