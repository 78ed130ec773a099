using Keybrake.BudgetService.Budget;
using Keybrake.BudgetService.Store;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;

namespace Keybrake.BudgetService.OperatorConsole;

/// <summary>The console's routes that are not pages: its two assets, sign-out, and the audit export behind the session.</summary>
internal static class ConsoleEndpoints
{
    public static void MapConsoleEndpoints(this WebApplication app)
    {
        // The sign-in page needs its stylesheet before there is a session; neither asset holds anything private.
        app.MapGet("/console/assets/console.css", () => Asset("console.css", "text/css; charset=utf-8"))
            .WithMetadata(new ConsoleEndpoint(), new AllowAnonymousAttribute());
        app.MapGet("/console/assets/console.js", () => Asset("console.js", "text/javascript; charset=utf-8"))
            .WithMetadata(new ConsoleEndpoint(), new AllowAnonymousAttribute());

        app.MapPost(ConsoleSetup.SignOutPath, SignOutAsync)
            .RequireAuthorization(ConsoleSetup.Policy)
            .WithMetadata(new ConsoleEndpoint());

        // The REST export needs the bearer token, which a browser does not hold: the console serves the same stream behind its session.
        app.MapGet("/console/audit/export", (HttpContext http, IAdminQueries queries) => AuditExportEndpoint.StreamAsync(http, queries))
            .RequireAuthorization(ConsoleSetup.Policy)
            .WithMetadata(new ConsoleEndpoint());

        // Any other console path: sign-in first (like every console URL), then an honest 404 rather than the REST API's 401.
        app.MapMethods("/console/{**path}", [HttpMethods.Get, HttpMethods.Head], (HttpContext http) => Results.NotFound("No such console page."))
            .RequireAuthorization(ConsoleSetup.Policy)
            .WithMetadata(new ConsoleEndpoint());
    }

    private static async Task SignOutAsync(HttpContext http, IAntiforgery antiforgery, ILoggerFactory loggers)
    {
        if (!await antiforgery.IsRequestValidAsync(http))
        {
            http.Response.StatusCode = StatusCodes.Status400BadRequest;
            await http.Response.WriteAsync("The form was not the console's own (no valid anti-forgery token); nothing was done.", http.RequestAborted);
            return;
        }

        await http.SignOutAsync(ConsoleSetup.Scheme);
        Log.ConsoleSignedOut(loggers.CreateLogger(typeof(ConsoleEndpoints)));
        http.Response.Redirect(ConsoleSetup.SignInPath);
    }

    private static IResult Asset(string name, string contentType)
    {
        var stream = typeof(ConsoleEndpoints).Assembly.GetManifestResourceStream("Keybrake.BudgetService.Console." + name)
            ?? throw new InvalidOperationException($"the console asset {name} is not in the assembly");
        return Results.Stream(stream, contentType);
    }
}
