using Grpc.Net.Client;
using Grpc.Net.ClientFactory;
using Keybrake.Protocol;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Keybrake.Client.Central;

/// <summary>
/// The gRPC clients for the budget service, from Grpc.Net.ClientFactory. Both share one HTTP/2 connection
/// pool (one handler, kept for the process's life), and each consumer creates its client once.
/// </summary>
internal static class BudgetServiceClients
{
    public const string BudgetName = "Keybrake.Budget";
    public const string AdminName = "Keybrake.BudgetAdmin";

    /// <summary>An address that is never called: the clients are registered in every mode, used only in central mode.</summary>
    private static readonly Uri s_unused = new("http://127.0.0.1:1");

    public static void Register(IServiceCollection services)
    {
        services.AddSingleton<BudgetServiceHandler>();
        services.TryAddSingleton<ClientCredential>();
        services.TryAddSingleton<ReplicaHealth>();
        services.AddGrpcClient<Budget.BudgetClient>(BudgetName, Configure)
            .ConfigurePrimaryHttpMessageHandler(sp => sp.GetRequiredService<BudgetServiceHandler>().Handler)
            .AddHttpMessageHandler(ReplicaTracking)
            .SetHandlerLifetime(Timeout.InfiniteTimeSpan)
            .ConfigureChannel(ConfigureChannel)

            // Every Budget call carries the process's client credential; the service refuses a call without one.
            .AddInterceptor(sp => new CredentialHeaderInterceptor(sp.GetRequiredService<ClientCredential>()));
        services.AddGrpcClient<BudgetAdmin.BudgetAdminClient>(AdminName, Configure)
            .ConfigurePrimaryHttpMessageHandler(sp => sp.GetRequiredService<BudgetServiceHandler>().Handler)
            .AddHttpMessageHandler(ReplicaTracking)
            .SetHandlerLifetime(Timeout.InfiniteTimeSpan)
            .ConfigureChannel(ConfigureChannel);
    }

    /// <summary>
    /// The channel's own reconnect backoff starts at a second and grows toward two minutes while the service is
    /// down, and calls fail at once until the next attempt: after a long outage the guard would keep failing
    /// closed long after the service is back. The circuit breaker already spares the service during an outage,
    /// so the channel tries to reconnect at least every second. With several replicas the channel resolves and
    /// balances them itself (see <see cref="BudgetServiceAddresses"/>).
    /// </summary>
    private static void ConfigureChannel(IServiceProvider services, GrpcChannelOptions options)
    {
        options.InitialReconnectBackoff = TimeSpan.FromMilliseconds(250);
        options.MaxReconnectBackoff = TimeSpan.FromSeconds(1);
        new BudgetServiceAddresses(Settings(services)).Configure(options, services.GetRequiredService<ReplicaHealth>());
    }

    private static void Configure(IServiceProvider services, GrpcClientFactoryOptions options) =>
        options.Address = new BudgetServiceAddresses(Settings(services)).Target ?? s_unused;

    private static ReplicaTrackingHandler ReplicaTracking(IServiceProvider services) =>
        new(services.GetRequiredService<ReplicaHealth>(), services.GetRequiredService<IOptions<KeybrakeBudgetServiceOptions>>());

    private static KeybrakeBudgetServiceOptions Settings(IServiceProvider services) =>
        services.GetRequiredService<IOptions<KeybrakeBudgetServiceOptions>>().Value;

    /// <summary>
    /// The one connection pool both clients use, disposed with the container. The clients' handler lifetime is
    /// infinite, so the client factory never rotates (or disposes) it.
    /// </summary>
    internal sealed class BudgetServiceHandler : IDisposable
    {
        public BudgetServiceHandler(IOptions<KeybrakeBudgetServiceOptions> options)
        {
            // https addresses are verified against the system's roots, or the configured private CA only.
            if (options.Value.CaCertificatePath is { Length: > 0 } caPath)
            {
                Handler.SslOptions.RemoteCertificateValidationCallback = PrivateCa.Validator(PrivateCa.Load(caPath));
            }
        }

        public SocketsHttpHandler Handler { get; } = new()
        {
            EnableMultipleHttp2Connections = true,
            PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
            KeepAlivePingDelay = TimeSpan.FromSeconds(30),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(10),
        };

        public void Dispose() => Handler.Dispose();
    }
}
