using Grpc.Core;
using Keybrake.Cli.Connection;
using Keybrake.Client.TestUtilities.BudgetService;

namespace Keybrake.Cli.Tests;

/// <summary>
/// How the tool explains an HTTP/2 handshake that broke, whichever way the break reached it. On an HTTP/1.1-only port
/// Kestrel refuses HTTP/2 with GOAWAY (HTTP_1_1_REQUIRED) and closes; on a busy machine .NET may process that GOAWAY
/// before it hands the request to the new connection, and then fails the call with a bare "connection could not be
/// established" error that names no reason. These tests give the explanation exactly that failure.
/// </summary>
public sealed class TransportExplanationTests
{
    private const string NotEstablished = "An HTTP/2 connection could not be established because the server did not complete the HTTP/2 handshake.";

    [Test]
    public async Task A_handshake_lost_to_an_early_GOAWAY_at_a_REST_port_is_named_as_an_HTTP1_port()
    {
        await using var service = await BudgetServiceHost.StartAsync(new Dictionary<string, string?>());
        using var session = Session(service.RestAddress);

        var explained = await session.ExplainAsync(HandshakeNotCompleted(), CancellationToken.None);

        Assert.Multiple(() =>
        {
            Assert.That(explained.ExitCode, Is.EqualTo(ExitCodes.Unreachable));
            Assert.That(explained.Message, Does.StartWith($"the server at {service.RestAddress.ToString().TrimEnd('/')} does not speak gRPC (HTTP/2) there"));
        });
    }

    [Test]
    public async Task The_same_failure_where_nothing_answers_HTTP1_either_keeps_the_transport_s_own_words()
    {
        await using var service = await BudgetServiceHost.StartAsync(new Dictionary<string, string?>());
        var nobody = service.RestAddress;
        await service.StopAsync();
        using var session = Session(nobody);

        var explained = await session.ExplainAsync(HandshakeNotCompleted(), CancellationToken.None);

        Assert.That(explained.Message, Does.Not.Contain("does not speak gRPC").And.Contain("could not be established"));
    }

    /// <summary>The failure as gRPC reports it: the bare HttpRequestException, no inner exception, status Internal.</summary>
    private static RpcException HandshakeNotCompleted() =>
        new(new Status(StatusCode.Internal, $"Error starting gRPC call. HttpRequestException: {NotEstablished}", new HttpRequestException(NotEstablished)));

    private static AdminSession Session(Uri server) =>
        new(new ConnectionSettings(server, "cli-admin-token-0123456789", "test"), json: false, TextWriter.Null, TextWriter.Null, TimeProvider.System);
}
