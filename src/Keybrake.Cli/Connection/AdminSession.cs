using System.Security.Authentication;
using Grpc.Core;
using Grpc.Net.Client;
using Keybrake.Protocol;

namespace Keybrake.Cli.Connection;

/// <summary>
/// One command's connection to the service's <c>BudgetAdmin</c> API: one channel (HTTP/2; without TLS for
/// http:// addresses, with the service's certificate verified for https://), the bearer token on every call,
/// and where output goes.
/// </summary>
internal sealed class AdminSession : IDisposable
{
    /// <summary>How long one request may take. An export streams for as long as it needs.</summary>
    public static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(30);

    private readonly GrpcChannel _channel;
    private readonly Metadata _headers = [];
    private readonly TimeProvider _time;

    public AdminSession(ConnectionSettings settings, bool json, TextWriter output, TextWriter error, TimeProvider time)
    {
        Settings = settings;
        Json = json;
        Out = output;
        Error = error;
        _time = time;
        _channel = GrpcChannel.ForAddress(settings.Server, new GrpcChannelOptions { HttpHandler = Handler(settings) });
        Admin = new BudgetAdmin.BudgetAdminClient(_channel);
        if (settings.Token is { } token)
        {
            _headers.Add("authorization", "Bearer " + token);
        }
    }

    public ConnectionSettings Settings { get; }

    /// <summary>The address as the user wrote it, for messages.</summary>
    private string Server => Settings.Server.ToString().TrimEnd('/');

    public BudgetAdmin.BudgetAdminClient Admin { get; }

    /// <summary>Whether to write the replies as JSON (<c>--json</c>) rather than tables.</summary>
    public bool Json { get; }

    public TextWriter Out { get; }

    public TextWriter Error { get; }

    public DateTimeOffset Now => _time.GetUtcNow();

    /// <summary>Options for one request: the token and a deadline.</summary>
    public CallOptions Call(CancellationToken cancellationToken) =>
        new(_headers, _time.GetUtcNow().UtcDateTime + CallTimeout, cancellationToken);

    /// <summary>Options for a stream: the token, no deadline.</summary>
    public CallOptions Stream(CancellationToken cancellationToken) => new(_headers, cancellationToken: cancellationToken);

    /// <summary>How long the HTTP/1.1 question of <see cref="SpeaksHttp1OnlyAsync"/> may take.</summary>
    private static readonly TimeSpan s_probeTimeout = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The one line to show for a failed call, and the exit code. A connection that broke during the HTTP/2 handshake
    /// is asked once more, over HTTP/1.1, so that a REST port is named as one however its refusal reached the tool.
    /// </summary>
    public async Task<CliException> ExplainAsync(RpcException failure, CancellationToken cancellationToken)
    {
        var transport = Transport(failure);
        if ((transport is null || transport.Message.Contains(ClosedWithoutAnswer, StringComparison.Ordinal))
            && BrokeDuringHandshake(failure) && await SpeaksHttp1OnlyAsync(cancellationToken).ConfigureAwait(false))
        {
            return NotGrpc();
        }

        return transport ?? Explain(failure);
    }

    private CliException Explain(RpcException failure) => failure.StatusCode switch
    {
        StatusCode.Unauthenticated or StatusCode.PermissionDenied when Settings.Token is null =>
            new CliException(ExitCodes.Auth, $"the budget service requires an admin token (set --token or {ConnectionSettings.TokenVariable})"),
        StatusCode.Unauthenticated or StatusCode.PermissionDenied =>
            new CliException(ExitCodes.Auth, $"the admin token was refused (set --token or {ConnectionSettings.TokenVariable})"),
        StatusCode.Unavailable =>
            new CliException(ExitCodes.Unreachable, $"cannot reach the budget service at {Server} (is it running? set --server or {ConnectionSettings.ServerVariable})"),
        StatusCode.DeadlineExceeded =>
            new CliException(ExitCodes.Unreachable, $"the budget service at {Server} did not answer within {CallTimeout.TotalSeconds:0} s"),
        StatusCode.Unimplemented =>
            new CliException(ExitCodes.Failed, $"the budget service at {Server} does not offer this operation (is it an older version?)"),
        _ when failure.Status.Detail is { Length: > 0 } detail => new CliException(ExitCodes.Failed, detail),
        _ => new CliException(ExitCodes.Failed, $"the budget service failed the request ({failure.StatusCode})"),
    };

    public void Dispose() => _channel.Dispose();

    private static SocketsHttpHandler Handler(ConnectionSettings settings)
    {
        var handler = new SocketsHttpHandler();
        if (settings.CaFile is { } caFile)
        {
            try
            {
                handler.SslOptions.RemoteCertificateValidationCallback = Client.Central.PrivateCa.Validator(Client.Central.PrivateCa.Load(caFile));
            }
            catch (InvalidDataException e)
            {
                handler.Dispose();
                throw new UsageException($"--ca-file: {e.Message}");
            }
        }

        return handler;
    }

    /// <summary>
    /// A call that never reached gRPC: the address speaks HTTP/1.1 only (a REST port), the TLS handshake failed, or
    /// the server dropped the connection (cleartext to a TLS port). Each means the address or its trust is wrong,
    /// which the user fixes like an unreachable service: exit code 4, with what is wrong.
    /// </summary>
    private CliException? Transport(RpcException failure)
    {
        if (failure.StatusCode is not (StatusCode.Unavailable or StatusCode.Internal or StatusCode.Unknown))
        {
            return null;
        }

        for (Exception? cause = failure.Status.DebugException ?? failure.InnerException; cause is not null; cause = cause.InnerException)
        {
            switch (cause)
            {
                case AuthenticationException tls:
                    return new CliException(ExitCodes.Unreachable, $"the TLS connection to {Server} failed: {OneLine(tls.Message)} (for a certificate from a private CA, set --ca-file or {ConnectionSettings.CaFileVariable})");
                case HttpProtocolException protocol when protocol.ErrorCode == Http11Required || protocol.Message.Contains("HTTP_1_1_REQUIRED", StringComparison.Ordinal):
                    return NotGrpc();
                case HttpRequestException { HttpRequestError: HttpRequestError.HttpProtocolError or HttpRequestError.VersionNegotiationError or HttpRequestError.InvalidResponse } request
                    when request.InnerException is not AuthenticationException:
                    return NotGrpc();
                case HttpRequestException { HttpRequestError: HttpRequestError.ResponseEnded }:
                    return new CliException(ExitCodes.Unreachable, $"the server at {Server} {ClosedWithoutAnswer} (if it listens with TLS, write https://)");
            }
        }

        return null;
    }

    private const string ClosedWithoutAnswer = "closed the connection without an HTTP/2 answer";

    /// <summary>
    /// Whether the connection was made and then broke before HTTP/2 answered. An HTTP/1.1-only server (Kestrel)
    /// refuses the HTTP/2 preface with GOAWAY (HTTP_1_1_REQUIRED) and closes; on a busy machine .NET may process the
    /// GOAWAY before it hands the request to the new connection, and then fails the call with an error that names no
    /// reason, or the close may reach the tool as a reset or an end of stream. A refused or unresolved connection, or a
    /// failed TLS handshake, is not such a break.
    /// </summary>
    private static bool BrokeDuringHandshake(RpcException failure)
    {
        if (failure.StatusCode is not (StatusCode.Unavailable or StatusCode.Internal or StatusCode.Unknown))
        {
            return false;
        }

        var http = false;
        for (Exception? cause = failure.Status.DebugException ?? failure.InnerException; cause is not null; cause = cause.InnerException)
        {
            switch (cause)
            {
                case AuthenticationException:
                case System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.ConnectionRefused or System.Net.Sockets.SocketError.HostNotFound or System.Net.Sockets.SocketError.TimedOut }:
                    return false;
                case HttpRequestException:
                    http = true;
                    break;
            }
        }

        return http;
    }

    /// <summary>Whether the address answers a plain HTTP/1.1 request (any status): then it is an HTTP/1.1 port, not gRPC's.</summary>
    private async Task<bool> SpeaksHttp1OnlyAsync(CancellationToken cancellationToken)
    {
        if (Settings.Server.Scheme != Uri.UriSchemeHttp)
        {
            return false; // over TLS the handshake says what the server speaks
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(s_probeTimeout);
        using var client = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false });
        using var request = new HttpRequestMessage(HttpMethod.Get, Settings.Server)
        {
            Version = System.Net.HttpVersion.Version11,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        try
        {
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
            return response.Version.Major == 1;
        }
        catch (Exception exception) when (exception is HttpRequestException or OperationCanceledException)
        {
            return false; // no answer over HTTP/1.1 either: the first explanation stands
        }
    }

    private CliException NotGrpc() => new(
        ExitCodes.Unreachable,
        $"the server at {Server} does not speak gRPC (HTTP/2) there: it offers HTTP/1.1 only, as the service's REST port does; set --server or {ConnectionSettings.ServerVariable} to the gRPC address (BudgetService:Port, or the first --urls address)");

    /// <summary>HTTP/2's HTTP_1_1_REQUIRED error code: the server wants HTTP/1.1 for this request.</summary>
    private const long Http11Required = 0xd;

    private static string OneLine(string text) => text.ReplaceLineEndings(" ");
}
