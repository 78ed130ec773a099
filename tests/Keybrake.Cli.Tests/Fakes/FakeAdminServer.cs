using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Keybrake.Cli.Tests.Fakes;

/// <summary>A real Kestrel gRPC server on a loopback port (HTTP/2 without TLS, as the service listens) hosting <see cref="FakeBudgetAdmin"/>.</summary>
public sealed class FakeAdminServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private FakeAdminServer(WebApplication app, FakeBudgetAdmin admin, Uri address)
    {
        _app = app;
        Admin = admin;
        Address = address;
    }

    public FakeBudgetAdmin Admin { get; }

    public Uri Address { get; }

    public static async Task<FakeAdminServer> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc();
        var admin = new FakeBudgetAdmin();
        builder.Services.AddSingleton(admin);
        var app = builder.Build();
        app.MapGrpcService<FakeBudgetAdmin>();
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
        return new FakeAdminServer(app, admin, new Uri(address));
    }

    public ValueTask DisposeAsync() => _app.DisposeAsync();
}
