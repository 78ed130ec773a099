using Grpc.Core;
using Keybrake.BudgetService.Hosting;

namespace Keybrake.BudgetService.Budget;

/// <summary>
/// Refuses every admin call, gRPC or REST, that does not carry the admin token, before the call does anything:
/// <c>Unauthenticated</c> (HTTP 401), with the same message whether the token was missing or wrong.
/// </summary>
internal sealed class AdminTokenInterceptor : CallerCheckInterceptor
{
    private readonly AdminToken _token;
    private readonly ILogger<AdminTokenInterceptor> _logger;

    public AdminTokenInterceptor(AdminToken token, ILogger<AdminTokenInterceptor> logger)
    {
        _token = token;
        _logger = logger;
    }

    protected override void Check(ServerCallContext context)
    {
        if (!_token.Accepts(context.RequestHeaders.GetValue("authorization")))
        {
            Log.AdminRejected(_logger, context.Method);
            throw new RpcException(new Status(StatusCode.Unauthenticated, "a valid admin token is required (Authorization: Bearer <token>)"));
        }
    }
}
