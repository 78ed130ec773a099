using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Client.TestUtilities.Network;
using Microsoft.AspNetCore.Builder;

namespace Keybrake.Client.TestUtilities.FakeBudget;

/// <summary>
/// A hand-written budget service on a real Kestrel port on loopback (HTTP/2 without TLS), for tests of the guard's
/// side of a contract the real service may not have yet. It speaks the <c>Budget</c> gRPC service with a few keys
/// held in memory (<see cref="FakeBudgetState"/>): what the guard sends is recorded, what it gets back is the test's
/// to set, and the key event stream carries the events the test pushes, with a heartbeat every half second. Every
/// call must present <see cref="BudgetServiceHost.ClientToken"/>.
/// </summary>
public sealed class FakeBudgetService : IAsyncDisposable
{
    private readonly WebApplication _app;

    private FakeBudgetService(WebApplication app, FakeBudgetState state, Uri address)
    {
        _app = app;
        State = state;
        Address = address;
    }

    /// <summary>Where the service listens, such as <c>http://127.0.0.1:41234</c>.</summary>
    public Uri Address { get; }

    /// <summary>The keys, what the guard sent, and the test's levers.</summary>
    public FakeBudgetState State { get; }

    public static async Task<FakeBudgetService> StartAsync(FakeBudgetState? state = null)
    {
        state ??= new FakeBudgetState();
        var (app, address) = await LoopbackGrpcServer.StartAsync<FakeBudgetGrpc, FakeBudgetState>(state);
        return new FakeBudgetService(app, state, address);
    }

    public async ValueTask DisposeAsync()
    {
        State.EndStreams();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
