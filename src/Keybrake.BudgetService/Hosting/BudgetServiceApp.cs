using Keybrake.BudgetService.Alerts;
using Keybrake.BudgetService.Budget;
using Keybrake.BudgetService.Clients;
using Keybrake.BudgetService.Integrations;
using Keybrake.BudgetService.Keys;
using Keybrake.BudgetService.Leases;
using Keybrake.BudgetService.OperatorConsole;
using Keybrake.BudgetService.Store;
using Keybrake.BudgetService.Telemetry;
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
    /// Runs the service until it is stopped, or the store's <c>export</c> or <c>import</c> (<see cref="StoreTransferCommand"/>). A start-up failure an operator fixes (a path, a permission, a setting)
    /// is one line on standard error naming the path and the problem, and exit code 1; never a stack trace.
    /// </summary>
    public static async Task<int> RunAsync(string[] args)
    {
        if (StoreTransferCommand.Handles(args))
        {
            return await StoreTransferCommand.RunAsync(args);
        }

        WebApplication? app = null;
        try
        {
            app = Build(args);

            // The store is opened before the host starts, so a failure is reported here, once, not logged by the host.
            await app.Services.GetRequiredService<IBudgetStore>().MigrateAsync(CancellationToken.None);
            await app.Services.GetRequiredService<Vault.SecretVault>().CheckStoreAsync(app.Services.GetRequiredService<IKeyStore>(), CancellationToken.None);
        }
        catch (Exception exception) when (exception is ServiceStartException or OptionsValidationException)
        {
            var message = exception is OptionsValidationException invalid
                ? $"The budget service's settings are not valid: {string.Join("; ", invalid.Failures)}"
                : exception.Message;
            await Console.Error.WriteLineAsync($"error: {message.ReplaceLineEndings(" ")}");
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
        // The confirmation bound is a network timer, on the system clock like the stream's heartbeat.
        builder.Services.TryAddSingleton(sp => new KeyEventHub(sp.GetRequiredService<IOptions<BudgetServiceOptions>>().Value.KeyEventAckTimeout, TimeProvider.System));
        builder.Services.TryAddSingleton<AdminToken>();
        builder.Services.TryAddSingleton<Vault.SecretVault>();
        builder.Services.TryAddSingleton<Vault.SecretAdmin>();
        builder.Services.TryAddSingleton<Vault.SecretDelivery>();
        builder.Services.TryAddSingleton<StoreFaults>();
        builder.Services.TryAddSingleton<ClientRegistry>();
        builder.Services.TryAddSingleton<ClientAdmin>();
        builder.Services.AddServiceHealthChecks();
        builder.Services.AddMetrics();
        builder.Services.AddOptions<HostOptions>().Configure<IOptions<BudgetServiceOptions>>((host, service) => host.ShutdownTimeout = service.Value.ShutdownTimeout);
        builder.Services.TryAddSingleton<Budget.OverrunReports>();
        builder.Services.TryAddSingleton<RecordPruning>();
        builder.Services.AddHostedService<StoreMaintenance>();
        builder.Services.AddLeases();
        builder.Services.AddBudgetAlerts();
        builder.Services.AddOperatorConsole();
        builder.Services.AddIntakeIntegrations();
        builder.Services.AddGrpc(grpc =>
            {
                grpc.MaxReceiveMessageSize = MaxMessageBytes;
                grpc.EnableDetailedErrors = false;
                grpc.Interceptors.Add<RpcTelemetryInterceptor>();
                grpc.Interceptors.Add<StoreFaultInterceptor>();
            })
            .AddServiceOptions<BudgetAdminGrpcService>(admin => admin.Interceptors.Add<AdminTokenInterceptor>())
            .AddServiceOptions<BudgetGrpcService>(budget => budget.Interceptors.Add<ClientCredentialInterceptor>())
            .AddJsonTranscoding();

        // Where to listen: see ListenPlan. The service binds --urls itself (so that a cleartext URL gets the HTTP/2
        // that gRPC needs), unless Kestrel's own endpoints are configured (Kestrel:Endpoints, certificates included),
        // which are left to Kestrel. Either way, cleartext on a non-loopback address needs an explicit opt-out.
        var urls = builder.Configuration["urls"]; // --urls and ASPNETCORE_URLS both land here
        var kestrelEndpoints = builder.Configuration.GetSection("Kestrel:Endpoints").Exists();
        if (!kestrelEndpoints)
        {
            builder.WebHost.UseSetting("urls", string.Empty);
        }

        builder.WebHost.ConfigureKestrel(kestrel => Listen(kestrel, kestrelEndpoints ? null : urls ?? string.Empty));

        configure?.Invoke(builder);

        // After the caller's additions: the engine and the exporters are read from the whole configuration, and a store a
        // test registered wins.
        builder.Services.AddBudgetStore(builder.Configuration);
        builder.Services.AddServiceTelemetry(builder.Configuration);

        var app = builder.Build();
        app.UseAdminRestGate();
        app.UseStrictPolicyBodies();
        app.MapGrpcService<BudgetGrpcService>();
        app.MapGrpcService<BudgetAdminGrpcService>();
        app.MapAuditExport();
        app.MapIntakeIntegrations();
        app.MapHealthEndpoints();
        app.MapOperatorConsole();
        app.MapMetricsEndpoint();

        // Checked at start-up (and the token file written, when there is none) rather than on the first admin call.
        app.Services.GetRequiredService<AdminToken>();
        app.Services.GetRequiredService<Vault.SecretVault>(); // the master key files, likewise
        app.Services.CheckAlertSettings();
        return app;
    }

    /// <summary>Opens the endpoints of the listen plan (<paramref name="urls"/> null: Kestrel's own), after the network check.</summary>
    private static void Listen(KestrelServerOptions kestrel, string? urls)
    {
        var services = kestrel.ApplicationServices;
        var options = services.GetRequiredService<IOptions<BudgetServiceOptions>>().Value;
        var logger = services.GetRequiredService<ILoggerFactory>().CreateLogger("Keybrake.BudgetService.Listen");
        if (urls is null)
        {
            CheckNetwork(ListenPlan.InsecureKestrelEndpoints(services.GetRequiredService<IConfiguration>()).ToList(), options, logger);
            return;
        }

        var plan = ListenPlan.Create(urls, options);
        CheckNetwork([.. plan.Where(endpoint => endpoint.IsInsecureNetwork).Select(endpoint => endpoint.Url)], options, logger);
        var certificate = plan.Any(endpoint => endpoint.Tls) ? ServiceCertificate.Load(options.Tls) : null;
        foreach (var endpoint in plan)
        {
            kestrel.Listen(endpoint.EndPoint, listen =>
            {
                listen.Protocols = endpoint.Protocols;
                if (endpoint.Tls)
                {
                    listen.UseHttps(certificate!);
                }
            });
            Log.Listening(logger, endpoint.Url, endpoint.Serves);
        }
    }

    /// <summary>Cleartext where other hosts can listen in: refused, unless the operator opted out, which is logged as a warning.</summary>
    private static void CheckNetwork(List<string> insecure, BudgetServiceOptions options, ILogger logger)
    {
        if (insecure.Count == 0)
        {
            return;
        }

        if (!options.AllowInsecureNetwork)
        {
            throw new ServiceStartException(
                $"refusing to listen without TLS on {string.Join(", ", insecure)}, which other hosts can reach: set {BudgetServiceOptions.SectionName}:Tls:CertificatePath "
                + $"(see docs/budget-service.md), listen on 127.0.0.1, or set {BudgetServiceOptions.SectionName}:AllowInsecureNetwork=true to accept cleartext on the network");
        }

        foreach (var url in insecure)
        {
            Log.InsecureNetwork(logger, url);
        }
    }

}
