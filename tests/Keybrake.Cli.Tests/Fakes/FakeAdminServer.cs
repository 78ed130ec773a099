using Keybrake.Client.TestUtilities.Network;
using Microsoft.AspNetCore.Builder;

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
        var admin = new FakeBudgetAdmin();
        var (app, address) = await LoopbackGrpcServer.StartAsync<FakeBudgetAdmin, FakeBudgetAdmin>(admin);
        return new FakeAdminServer(app, admin, address);
    }

    public ValueTask DisposeAsync() => _app.DisposeAsync();
}
