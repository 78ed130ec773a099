using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Keybrake.Client.TestUtilities.Network;

/// <summary>
/// A real Kestrel gRPC server on a loopback port (HTTP/2 without TLS, as the budget service listens on loopback), hosting
/// one hand-written service: the home of every fake the tests talk gRPC to.
/// </summary>
public static class LoopbackGrpcServer
{
    /// <summary>
    /// Starts a server hosting <typeparamref name="TService"/>, with <paramref name="state"/> (the fake's memory, which
    /// the test reads and sets) as a singleton; returns the running app and its address, such as <c>http://127.0.0.1:41234</c>.
    /// </summary>
    public static async Task<(WebApplication App, Uri Address)> StartAsync<TService, TState>(TState state)
        where TService : class
        where TState : class
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(state);
        var app = builder.Build();
        app.MapGrpcService<TService>();
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
        return (app, new Uri(address));
    }
}
