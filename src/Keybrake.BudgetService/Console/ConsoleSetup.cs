using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.Extensions.Options;

namespace Keybrake.BudgetService.OperatorConsole;

/// <summary>
/// The operator's web console under <c>/console</c>: server-rendered Razor components behind a session cookie that the
/// admin token buys on the sign-in page. Every console route but the sign-in page and its assets needs the session;
/// the session opens nothing but the console (the REST admin API keeps its bearer token, see <see cref="ConsoleEndpoint"/>).
/// </summary>
internal static class ConsoleSetup
{
    public const string Scheme = "KeybrakeConsole";
    public const string Policy = "KeybrakeConsole";
    public const string BasePath = "/console";
    public const string SignInPath = "/console/sign-in";
    public const string SignOutPath = "/console/sign-out";
    public const string SessionCookie = "keybrake_console";
    public const string AntiforgeryCookie = "keybrake_console_csrf";

    public static IServiceCollection AddOperatorConsole(this IServiceCollection services)
    {
        services.AddOptions<ConsoleOptions>().BindConfiguration(ConsoleOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        services.AddRazorComponents();
        services.AddHttpContextAccessor();
        services.AddScoped<ConsoleAdmin>();

        // The keys that seal the session and anti-forgery cookies live in this process's memory only: nothing secret is
        // written to disk, and a restart ends every session (the operator signs in again). Each replica has its own keys,
        // so behind a load balancer the console needs sticky sessions (or one replica's address).
        services.AddDataProtection().SetApplicationName("Keybrake.BudgetService.Console");
        services.Configure<KeyManagementOptions>(keys => keys.XmlRepository = new MemoryKeyRepository());

        // Data Protection warns that keys are stored unencrypted: they are, in this process's memory, which holds the admin token too.
        services.AddLogging(logging => logging.AddFilter("Microsoft.AspNetCore.DataProtection.KeyManagement.XmlKeyManager", LogLevel.Error));

        // No default scheme: ASP.NET Core would make the only scheme, the console's, everyone's, and run its handler on
        // every gRPC and REST call. Only the console's routes, whose policy names the scheme, read its cookie. (A constant,
        // process-wide setting; ASP.NET Core offers it as this switch only.)
        AppContext.SetSwitch("Microsoft.AspNetCore.Authentication.SuppressAutoDefaultScheme", true);
        services.AddAuthentication().AddCookie(Scheme, cookie =>
        {
            cookie.Cookie.Name = SessionCookie;
            cookie.Cookie.Path = BasePath;
            cookie.Cookie.HttpOnly = true;
            cookie.Cookie.SameSite = SameSiteMode.Strict;
            cookie.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest; // Secure on the TLS admin port
            cookie.SlidingExpiration = false;
            cookie.LoginPath = SignInPath;
            cookie.LogoutPath = SignOutPath;
            cookie.AccessDeniedPath = SignInPath;
            cookie.ReturnUrlParameter = "returnUrl";
        });
        services.AddOptions<CookieAuthenticationOptions>(Scheme)
            .Configure<IOptions<ConsoleOptions>>((cookie, console) => cookie.ExpireTimeSpan = console.Value.SessionLifetime);
        services.AddAuthorizationBuilder().AddPolicy(Policy, policy => policy.AddAuthenticationSchemes(Scheme).RequireAuthenticatedUser());
        services.Configure<AntiforgeryOptions>(antiforgery =>
        {
            antiforgery.Cookie.Name = AntiforgeryCookie;
            antiforgery.Cookie.Path = BasePath;
            antiforgery.Cookie.SameSite = SameSiteMode.Strict;
            antiforgery.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
        });
        return services;
    }

    public static void MapOperatorConsole(this WebApplication app)
    {
        app.Use(ConsoleHeaders);

        // After authentication and authorization (which the host adds first): the console's forms are checked here.
        app.UseAntiforgery();
        app.MapRazorComponents<App>()
            .RequireAuthorization(Policy)
            .WithMetadata(new ConsoleEndpoint());
        app.MapConsoleEndpoints();
    }

    /// <summary>Console pages are never cached, framed (a revoke button under someone else's page), or given scripts from elsewhere.</summary>
    private static Task ConsoleHeaders(HttpContext http, RequestDelegate next)
    {
        if (http.GetEndpoint()?.Metadata.GetMetadata<ConsoleEndpoint>() is not null)
        {
            var headers = http.Response.Headers;
            headers.CacheControl = "no-cache, no-store"; // what anti-forgery sets anyway on a page with a form
            headers.Pragma = "no-cache";
            headers.XFrameOptions = "DENY";
            headers.XContentTypeOptions = "nosniff";
            headers["Referrer-Policy"] = "same-origin";
            headers.ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
        }

        return next(http);
    }
}
