using Grpc.Net.Client;
using Keybrake.BudgetService.Store;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Client.TestUtilities.Postgres;
using Keybrake.Protocol;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace Keybrake.BudgetService.Tests;

/// <summary>The real service on a loopback port, with a gRPC client for each of its two services and a handle on its store.</summary>
internal sealed class TestService : IAsyncDisposable
{
    private readonly GrpcChannel _channel;

    private TestService(BudgetServiceHost host)
    {
        Host = host;
        _channel = GrpcChannel.ForAddress(host.Address);
        Budget = BudgetServiceHost.BudgetClient(_channel);
        Channel = _channel;
        AnonymousAdmin = new BudgetAdmin.BudgetAdminClient(_channel);
        Admin = BudgetServiceHost.AdminClient(_channel);
    }

    public BudgetServiceHost Host { get; }

    /// <summary>The money path, with <see cref="BudgetServiceHost.ClientToken"/> (every key in scope) on every call that does not set its own.</summary>
    public Protocol.Budget.BudgetClient Budget { get; }

    /// <summary>The channel the clients share, for clients with other credentials.</summary>
    public GrpcChannel Channel { get; }

    /// <summary>Issues a client credential scoped to <paramref name="keyIds"/> through the admin API, and a client of the money path that presents it.</summary>
    public async Task<(Protocol.Budget.BudgetClient Client, string Token)> ClientForAsync(string clientId, params string[] keyIds)
    {
        var issued = await Admin.CreateClientAsync(new CreateClientRequest { ClientId = clientId, KeyIds = { keyIds } });
        return (BudgetServiceHost.BudgetClient(_channel, issued.Token), issued.Token);
    }

    /// <summary>The admin service, with the host's admin token on every call that does not set its own.</summary>
    public BudgetAdmin.BudgetAdminClient Admin { get; }

    /// <summary>The admin service with no token added.</summary>
    public BudgetAdmin.BudgetAdminClient AnonymousAdmin { get; }

    /// <summary>The service's own store instance, for the operations no RPC exposes (pruning).</summary>
    public IBudgetStore Store => Host.Services.GetRequiredService<IBudgetStore>();

    /// <summary>
    /// Starts the service; <paramref name="directory"/> reuses another service's data. Without <paramref name="time"/> the
    /// clock stands still at noon UTC, so that no test straddles a midnight of the machine's clock.
    /// </summary>
    public static async Task<TestService> StartAsync(IDictionary<string, string?> settings, TimeProvider? time = null, string? directory = null, Action<Microsoft.AspNetCore.Builder.WebApplicationBuilder>? configure = null) =>
        new(await BudgetServiceHost.StartAsync(settings, directory, time: time ?? NoonUtc(), configure: configure));

    /// <summary>
    /// Starts the service on <paramref name="engine"/>: SQLite in a temporary folder, or a fresh database of its own on the
    /// test run's PostgreSQL server. To restart on another service's data, pass its <paramref name="directory"/> and
    /// <paramref name="postgres"/> database (<see cref="Postgres"/>).
    /// </summary>
    public static async Task<TestService> StartAsync(StoreEngine engine, IDictionary<string, string?> settings, TimeProvider? time = null, Action<Microsoft.AspNetCore.Builder.WebApplicationBuilder>? configure = null, string? postgres = null, string? directory = null)
    {
        if (engine == StoreEngine.PostgreSql)
        {
            postgres ??= await (await PostgresCluster.SharedAsync()).CreateDatabaseAsync();
        }

        var service = new TestService(await BudgetServiceHost.StartAsync(settings, directory, time: time ?? NoonUtc(), configure: configure, postgres: postgres)) { Postgres = postgres };
        if (service.Store is Store.Postgres.PostgresBudgetStore != (engine == StoreEngine.PostgreSql))
        {
            await service.DisposeAsync();
            throw new InvalidOperationException($"The service was asked for {engine} and runs on {service.Store.GetType().Name}.");
        }

        return service;
    }

    /// <summary>The PostgreSQL database the service keeps its books in, or <see langword="null"/> on SQLite.</summary>
    public string? Postgres { get; private init; }

    private static FakeTimeProvider NoonUtc() => new(new DateTimeOffset(2026, 3, 10, 12, 0, 0, TimeSpan.Zero));

    /// <summary>Settings for several keys (or keys and service settings) at once.</summary>
    public static Dictionary<string, string?> Settings(params IDictionary<string, string?>[] parts)
    {
        var settings = new Dictionary<string, string?>();
        foreach (var (name, value) in parts.SelectMany(part => part))
        {
            settings[name] = value;
        }

        return settings;
    }

    /// <summary>Today's counters for a key.</summary>
    public async Task<SpendReply> TodayAsync(string keyId) => await Admin.GetDailySpendAsync(new DailySpendRequest { KeyId = keyId });

    /// <summary>A day's counters for a key.</summary>
    public async Task<SpendReply> DayAsync(string keyId, string day) => await Admin.GetDailySpendAsync(new DailySpendRequest { KeyId = keyId, Day = day });

    /// <summary>A run's counters for a key.</summary>
    public async Task<SpendReply> RunAsync(string keyId, string runId) => await Admin.GetRunSpendAsync(new RunSpendRequest { KeyId = keyId, RunId = runId });

    /// <summary>The reservations still pending, for one key or (empty) every key.</summary>
    public async Task<IReadOnlyList<UnsettledReservation>> UnsettledAsync(string keyId = "") =>
        (await Admin.ListUnsettledAsync(new ListUnsettledRequest { KeyId = keyId })).Reservations;

    /// <summary>Sends settlements in one batch and returns how many changed.</summary>
    public async Task<int> SettleAsync(params Settlement[] settlements)
    {
        var request = new SettleRequest();
        request.Settlements.AddRange(settlements);
        return (await Budget.SettleAsync(request)).Changed;
    }

    /// <summary>Stops the service and keeps its data, to start another on <see cref="BudgetServiceHost.Directory"/>.</summary>
    public async Task StopAsync()
    {
        _channel.Dispose();
        await Host.StopAsync();
    }

    public async ValueTask DisposeAsync()
    {
        _channel.Dispose();
        await Host.DisposeAsync();
    }
}
