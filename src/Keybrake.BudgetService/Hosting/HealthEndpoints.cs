using Keybrake.BudgetService.Replicas;
using Keybrake.BudgetService.Store;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Keybrake.BudgetService.Hosting;

/// <summary>
/// <c>/healthz</c> (live: the process answers HTTP) and <c>/readyz</c> (ready: its store answers a query within 2 s, and,
/// as a replica on PostgreSQL, it hears of the other replicas' changes: see <see cref="ChangeFeed"/>), for load
/// balancers and orchestrators, on the REST endpoints (HTTP/1.1) and without a token: they tell nothing but
/// <c>Healthy</c> or <c>Unhealthy</c> (200 or 503). Only GET and HEAD skip the admin token; the gate knows them by
/// <see cref="OpenHealthEndpoint"/> in their metadata, never by path.
/// </summary>
internal static class HealthEndpoints
{
    public const string LivePath = "/healthz";
    public const string ReadyPath = "/readyz";

    private const string ReadyTag = "ready";

    /// <summary>How long the store may take to answer the readiness query before the replica counts as not ready.</summary>
    private static readonly TimeSpan s_readinessTimeout = TimeSpan.FromSeconds(2);

    public static IServiceCollection AddServiceHealthChecks(this IServiceCollection services)
    {
        services.AddHealthChecks()
            .AddCheck<StoreReadinessCheck>("store", tags: [ReadyTag], timeout: s_readinessTimeout)
            .AddCheck<ChangeFeedReadinessCheck>("changes", tags: [ReadyTag]);
        return services;
    }

    public static void MapHealthEndpoints(this WebApplication app)
    {
        app.MapHealthChecks(LivePath, new HealthCheckOptions { Predicate = _ => false }).WithMetadata(new OpenHealthEndpoint());
        app.MapHealthChecks(ReadyPath, new HealthCheckOptions { Predicate = check => check.Tags.Contains(ReadyTag) }).WithMetadata(new OpenHealthEndpoint());
    }
}

/// <summary>Endpoint metadata: GET and HEAD need no admin token here.</summary>
internal sealed class OpenHealthEndpoint;

/// <summary>Ready while the store answers a trivial query.</summary>
internal sealed class StoreReadinessCheck(IBudgetStore store) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await store.PingAsync(cancellationToken).ConfigureAwait(false);
            return HealthCheckResult.Healthy();
        }
        catch (Exception exception) when (exception is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // The type only: a database's message may name hosts and users, and this answer needs no token.
            return HealthCheckResult.Unhealthy($"the budget store does not answer ({exception.GetType().Name})");
        }
    }
}

/// <summary>
/// Ready while the replica hears of every change (always, on SQLite): a replica whose <c>LISTEN</c> connection is down
/// could not tell its key event streams of a revocation made through another, so it sends its clients elsewhere.
/// </summary>
internal sealed class ChangeFeedReadinessCheck(ChangeFeed feed) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(feed.IsListening
            ? HealthCheckResult.Healthy()
            : HealthCheckResult.Unhealthy("the replica does not hear of changes made through the other replicas just now"));
}
