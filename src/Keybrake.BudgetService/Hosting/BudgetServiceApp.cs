using System.Net;
using Keybrake.BudgetService.Budget;
using Keybrake.BudgetService.Clients;
using Keybrake.BudgetService.Keys;
using Keybrake.BudgetService.Store;
using Keybrake.BudgetService.Store.Sqlite;
using Keybrake.Client;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Keybrake.BudgetService.Hosting;

/// <summary>Builds the budget service: the same app whether run by <c>dotnet run</c> or hosted by a test.</summary>
public static class BudgetServiceApp
{
    /// <summary>The largest message the service accepts (a batch of audit records, say).</summary>
    public const int MaxMessageBytes = 4 * 1024 * 1024;

    /// <summary>
    /// Runs the service until it is stopped. A start-up failure an operator fixes (a path, a permission, a setting)
    /// is one line on standard error naming the path and the problem, and exit code 1; never a stack trace.
    /// </summary>
    public static async Task<int> RunAsync(string[] args)
    {
        WebApplication? app = null;
        try
        {
            app = Build(args);

            // The store is opened before the host starts, so a failure is reported here, once, not logged by the host.
            await app.Services.GetRequiredService<IBudgetStore>().MigrateAsync(CancellationToken.None);
        }
        catch (Exception exception) when (exception is ServiceStartException or OptionsValidationException)
        {
            var message = exception is OptionsValidationException invalid
                ? $"The budget service's settings are not valid: {string.Join("; ", invalid.Failures)}"
                : exception.Message;
            await Console.Error.WriteLineAsync($"keybrake budget service: {message.ReplaceLineEndings(" ")}");
            if (app is not null)
            {
                await app.DisposeAsync();
            }

            return 1;
        }

        await using (app)
        {
            await app.RunAsync();
        }

        return 0;
    }

    /// <summary>Builds the app from command-line arguments and configuration; <paramref name="configure"/> may override services (tests).</summary>
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        // The content root (appsettings.json) is the service's own folder, wherever it is started from; relative data
        // paths (StoragePath, the admin token) resolve against the working directory, as the docs say.
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        builder.Services.AddOptions<BudgetServiceOptions>()
            .BindConfiguration(BudgetServiceOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<BudgetServiceOptions>, BudgetServiceOptionsValidator>());
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.TryAddSingleton<IdGenerator>();
        builder.Services.TryAddSingleton<KeyRegistry>();
        builder.Services.TryAddSingleton<KeyEventHub>();
        builder.Services.TryAddSingleton<AdminToken>();
        builder.Services.TryAddSingleton<StoreFaults>();
        builder.Services.TryAddSingleton<IBudgetStore>(sp => new SqliteBudgetStore(
            StoragePath(sp),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<SqliteBudgetStore>>()));
        builder.Services.TryAddSingleton<IKeyStore>(sp => new SqliteKeyStore(StoragePath(sp)));
        builder.Services.TryAddSingleton<IAdminQueries>(sp => new SqliteAdminQueries(StoragePath(sp)));
        builder.Services.TryAddSingleton<IClientStore>(sp => new SqliteClientStore(StoragePath(sp)));
        builder.Services.TryAddSingleton<ClientRegistry>();
        builder.Services.TryAddSingleton<ClientAdmin>();
        builder.Services.AddHostedService<StoreMaintenance>();
        builder.Services.AddGrpc(grpc =>
            {
                grpc.MaxReceiveMessageSize = MaxMessageBytes;
                grpc.EnableDetailedErrors = false;
                grpc.Interceptors.Add<StoreFaultInterceptor>();
            })
            .AddServiceOptions<BudgetAdminGrpcService>(admin => admin.Interceptors.Add<AdminTokenInterceptor>())
            .AddServiceOptions<BudgetGrpcService>(budget => budget.Interceptors.Add<ClientCredentialInterceptor>())
            .AddJsonTranscoding();

        // Without configured endpoints (--urls, ASPNETCORE_URLS, Kestrel:Endpoints) the service listens on
        // loopback only, without TLS: gRPC on the configured port (HTTP/2), and the admin API's REST paths on the
        // REST port (HTTP/1.1, for curl). Cleartext cannot offer both protocols on one port. TLS comes from
        // Kestrel's own settings.
        var configuredUrls = builder.Configuration["urls"]; // --urls and ASPNETCORE_URLS both land here
        if (string.IsNullOrEmpty(configuredUrls) && !builder.Configuration.GetSection("Kestrel:Endpoints").Exists())
        {
            var defaults = new BudgetServiceOptions();
            var port = builder.Configuration.GetValue($"{BudgetServiceOptions.SectionName}:Port", defaults.Port);
            var restPort = builder.Configuration.GetValue($"{BudgetServiceOptions.SectionName}:RestPort", defaults.RestPort);
            builder.WebHost.ConfigureKestrel(kestrel =>
            {
                kestrel.Listen(IPAddress.Loopback, port, listen => listen.Protocols = HttpProtocols.Http2);
                if (restPort >= 0)
                {
                    kestrel.Listen(IPAddress.Loopback, restPort, listen => listen.Protocols = HttpProtocols.Http1);
                }
            });
        }

        configure?.Invoke(builder);

        var app = builder.Build();
        app.UseAdminRestGate();
        app.UseStrictPolicyBodies();
        app.MapGrpcService<BudgetGrpcService>();
        app.MapGrpcService<BudgetAdminGrpcService>();
        app.MapAuditExport();

        // Checked at start-up (and the token file written, when there is none) rather than on the first admin call.
        app.Services.GetRequiredService<AdminToken>();
        return app;
    }

    private static string StoragePath(IServiceProvider services) =>
        services.GetRequiredService<IOptions<BudgetServiceOptions>>().Value.StoragePath;
}
