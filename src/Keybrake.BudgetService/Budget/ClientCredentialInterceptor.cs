using Grpc.Core;
using Keybrake.BudgetService.Clients;

namespace Keybrake.BudgetService.Budget;

/// <summary>
/// Refuses every Budget call that does not carry a client credential in force, before the call does anything:
/// <c>Unauthenticated</c>. The credential goes into the call's state for the scope checks
/// (<see cref="ClientOf"/>). Nothing of the token is logged or echoed. The one exception: a revoked credential's
/// <c>AcknowledgeKeyEvents</c> reaches the handler, which accepts only the confirmation of the revocation itself.
/// </summary>
internal sealed class ClientCredentialInterceptor : CallerCheckInterceptor
{
    private static readonly string s_acknowledgeMethod = $"/{Protocol.Budget.Descriptor.FullName}/{nameof(Protocol.Budget.BudgetBase.AcknowledgeKeyEvents)}";

    private readonly ClientRegistry _clients;
    private readonly ILogger<ClientCredentialInterceptor> _logger;

    public ClientCredentialInterceptor(ClientRegistry clients, ILogger<ClientCredentialInterceptor> logger)
    {
        _clients = clients;
        _logger = logger;
    }

    /// <summary>The credential the interceptor accepted for this call.</summary>
    public static ServiceClient ClientOf(ServerCallContext context) =>
        context.UserState.TryGetValue(typeof(ServiceClient), out var client) && client is ServiceClient accepted
            ? accepted
            : throw new RpcException(new Status(StatusCode.Unauthenticated, "a client credential is required"));

    protected override void Check(ServerCallContext context)
    {
        var token = ClientTokens.FromHeader(context.RequestHeaders.GetValue("authorization"));
        var client = _clients.Authenticate(token);
        if (client is null)
        {
            Log.ClientRejected(_logger, context.Method, token is null ? "none presented" : "not one the service issued");
            throw new RpcException(new Status(StatusCode.Unauthenticated, "a valid client credential is required (Authorization: Bearer kbc_...)"));
        }

        // A revoked credential may still confirm that its stream applied the revocation (checked by the handler,
        // which accepts nothing else from it): the operator's revoke call waits for that confirmation.
        if (client.IsRevoked && context.Method != s_acknowledgeMethod)
        {
            Log.ClientRejected(_logger, context.Method, $"credential '{client.Id}' is revoked");
            throw new RpcException(new Status(StatusCode.Unauthenticated, $"client credential '{client.Id}' is revoked"));
        }

        // A credential for intake integrations only (LiteLLM's spend logs) has no key in scope: the money path is not for it.
        if (client.IntegrationOnly)
        {
            Log.ClientRejected(_logger, context.Method, $"credential '{client.Id}' is for intake integrations only");
            throw new RpcException(new Status(StatusCode.PermissionDenied, $"client credential '{client.Id}' is for intake integrations only ({string.Join(", ", client.Integrations)}); it may make no Budget call"));
        }

        context.UserState[typeof(ServiceClient)] = client;
    }
}
