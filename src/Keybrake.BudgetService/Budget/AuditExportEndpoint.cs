using Grpc.Core;
using Keybrake.BudgetService.Hosting;
using Keybrake.BudgetService.Store;

namespace Keybrake.BudgetService.Budget;

/// <summary>
/// <c>GET /v1/audit/export?format=csv|jsonl&amp;run_id=...</c>: the REST face of <c>ExportAudit</c>, a plain
/// download rather than JSON, behind the same admin token.
/// </summary>
internal static class AuditExportEndpoint
{
    public static void MapAuditExport(this IEndpointRouteBuilder endpoints) =>
        endpoints.MapGet("/v1/audit/export", ExportAsync);

    private static async Task ExportAsync(HttpContext http, AdminToken token, IAdminQueries queries, ILoggerFactory loggers)
    {
        if (!token.Accepts(http.Request.Headers.Authorization))
        {
            Log.AdminRejected(loggers.CreateLogger(typeof(AuditExportEndpoint)), "GET /v1/audit/export");
            await Problem(http, StatusCodes.Status401Unauthorized, "a valid admin token is required (Authorization: Bearer <token>)");
            return;
        }

        await StreamAsync(http, queries);
    }

    /// <summary>The export itself, for a caller already checked: the admin token above, or the console's session.</summary>
    public static async Task StreamAsync(HttpContext http, IAdminQueries queries)
    {
        string format;
        AuditFilter filter;
        try
        {
            var query = http.Request.Query;
            format = AuditExport.ParseFormat(query["format"].ToString());
            filter = AuditFilters.From(query["run_id"].ToString(), query["key_id"].ToString(), query["vendor"].ToString(), query["decision"].ToString(), query["from"].ToString(), query["to"].ToString());
        }
        catch (RpcException exception)
        {
            await Problem(http, StatusCodes.Status400BadRequest, exception.Status.Detail);
            return;
        }

        http.Response.ContentType = AuditExport.ContentType(format);
        http.Response.Headers.ContentDisposition = $"attachment; filename=\"keybrake-audit.{format}\"";
        var cancellationToken = http.RequestAborted;
        await foreach (var chunk in AuditExport.ChunksAsync(queries.ExportAuditAsync(filter, cancellationToken), format, cancellationToken))
        {
            await http.Response.Body.WriteAsync(chunk, cancellationToken);
        }
    }

    private static Task Problem(HttpContext http, int status, string message)
    {
        http.Response.StatusCode = status;
        return http.Response.WriteAsJsonAsync(new { code = status, message }, http.RequestAborted);
    }
}
