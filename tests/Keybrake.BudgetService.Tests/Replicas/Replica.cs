using Grpc.Core;
using Keybrake.BudgetService.Store.Postgres;
using Keybrake.Client.TestUtilities.Postgres;
using Keybrake.Protocol;
using Microsoft.Extensions.DependencyInjection;

namespace Keybrake.BudgetService.Tests.Replicas;

/// <summary>What the replica tests share: a second replica on the first one's database, streams, and SQL on the server.</summary>
internal static class Replica
{
    /// <summary>Starts another replica (a service host of its own) on <paramref name="first"/>'s PostgreSQL database.</summary>
    public static Task<TestService> AlongsideAsync(TestService first, IDictionary<string, string?> settings, Action<Microsoft.AspNetCore.Builder.WebApplicationBuilder>? configure = null) =>
        TestService.StartAsync(StoreEngine.PostgreSql, settings, configure: configure, postgres: first.Postgres);

    /// <summary>The <c>application_name</c> of the replica's LISTEN connection.</summary>
    public static string ListenerName(TestService replica) => replica.Host.Services.GetRequiredService<PostgresDatabase>().ListenerName;

    /// <summary>A key event stream on <paramref name="budget"/>, without its heartbeats.</summary>
    public static (AsyncServerStreamingCall<KeyEvent> Call, IAsyncEnumerator<KeyEvent> Events) Watch(Protocol.Budget.BudgetClient budget, CancellationToken cancellationToken, params string[] keyIds)
    {
        var call = budget.WatchKeys(new WatchKeysRequest { KeyIds = { keyIds } }, cancellationToken: cancellationToken);
        return (call, call.ResponseStream.ReadAllAsync(cancellationToken).Where(e => e.Kind != KeyEventKind.Heartbeat).GetAsyncEnumerator(cancellationToken));
    }

    /// <summary>The next event, which must come.</summary>
    public static async Task<KeyEvent> NextAsync(this IAsyncEnumerator<KeyEvent> events) =>
        await events.MoveNextAsync() ? events.Current : throw new InvalidOperationException("The key event stream ended.");

    /// <summary>The administrator's connection string for the test run's server (to end sessions, to close a database).</summary>
    public static async Task<string> ServerAsync() => (await PostgresCluster.SharedAsync()).ConnectionString();
}
