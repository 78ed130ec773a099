using Keybrake.BudgetService.Hosting;
using Microsoft.AspNetCore.Grpc.JsonTranscoding;
using Microsoft.AspNetCore.Http.Features;

namespace Keybrake.BudgetService.Budget;

/// <summary>
/// Every request that is not gRPC, save GET and HEAD of the health endpoints (<see cref="HealthEndpoints"/>), is
/// the admin API's REST face, and must carry the admin token. It is checked here, first, before anything reads the
/// body: a caller without the token gets 401 whatever it sends, and its
/// body is neither parsed nor buffered. A caller with the token may send at most <see cref="MaxBodyBytes"/>.
/// gRPC calls pass through: <see cref="AdminTokenInterceptor"/> guards the admin service there, and gRPC
/// bounds a message at <see cref="BudgetServiceApp.MaxMessageBytes"/>.
/// </summary>
internal static class AdminRestGate
{
    /// <summary>The largest REST body the service reads: a policy is a few kilobytes.</summary>
    public const long MaxBodyBytes = 1024 * 1024;

    public const string Refusal = "a valid admin token is required (Authorization: Bearer <token>)";

    public static IApplicationBuilder UseAdminRestGate(this IApplicationBuilder app) => app.Use(async (http, next) =>
    {
        // A REST route is gated whatever content type it claims; anything else that claims gRPC is gRPC.
        var rest = http.GetEndpoint()?.Metadata.GetMetadata<GrpcJsonTranscodingMetadata>() is not null;
        if (!rest && http.Request.ContentType?.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase) == true)
        {
            await next(http);
            return;
        }

        // The health endpoints answer load balancers, which hold no token, and tell nothing but up or down.
        if (http.GetEndpoint()?.Metadata.GetMetadata<OpenHealthEndpoint>() is not null && (HttpMethods.IsGet(http.Request.Method) || HttpMethods.IsHead(http.Request.Method)))
        {
            await next(http);
            return;
        }

        // The console's routes check its session cookie instead (OperatorConsole); the cookie opens nothing else.
        if (http.GetEndpoint()?.Metadata.GetMetadata<OperatorConsole.ConsoleEndpoint>() is not null)
        {
            await next(http);
            return;
        }

        // The intake integrations (LiteLLM's spend logs) check a client credential that names them, and set their own body limit.
        if (http.GetEndpoint()?.Metadata.GetMetadata<Integrations.IntakeEndpoint>() is not null)
        {
            await next(http);
            return;
        }

        // The Prometheus scrape endpoint also takes its own token, which opens nothing else.
        var token = http.RequestServices.GetRequiredService<AdminToken>();
        var scraper = http.GetEndpoint()?.Metadata.GetMetadata<Telemetry.ScrapeEndpoint>() is not null
            && http.RequestServices.GetRequiredService<Telemetry.ScrapeToken>().Accepts(http.Request.Headers.Authorization);
        if (!scraper && !token.Accepts(http.Request.Headers.Authorization))
        {
            var logger = http.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(AdminRestGate));
            Log.AdminRejected(logger, $"{ShownValue.Of(http.Request.Method)} {ShownValue.Of(http.Request.Path.Value)}");

            // The body stays unread; closing the connection afterwards spares Kestrel draining it.
            http.Response.StatusCode = StatusCodes.Status401Unauthorized;
            http.Response.Headers.WWWAuthenticate = "Bearer";
            http.Response.Headers.Connection = "close";
            await http.Response.WriteAsJsonAsync(new { code = 16, message = Refusal }, http.RequestAborted);
            return;
        }

        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = MaxBodyBytes;
        }

        await next(http);
    });
}
