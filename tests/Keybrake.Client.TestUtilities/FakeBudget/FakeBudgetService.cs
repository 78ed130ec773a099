using System.Net;
using Keybrake.Client.TestUtilities.BudgetService;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

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
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(state);
        var app = builder.Build();
        app.MapGrpcService<FakeBudgetGrpc>();
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
        return new FakeBudgetService(app, state, new Uri(address));
    }

    public async ValueTask DisposeAsync()
    {
        State.EndStreams();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
