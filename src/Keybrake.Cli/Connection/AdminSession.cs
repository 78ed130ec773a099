using Grpc.Core;
using Grpc.Net.Client;
using Keybrake.Protocol;

namespace Keybrake.Cli.Connection;

/// <summary>
/// One command's connection to the service's <c>BudgetAdmin</c> API: one channel (HTTP/2; without TLS for
/// http:// addresses), the bearer token on every call, and where output goes.
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
        _channel = GrpcChannel.ForAddress(settings.Server);
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

    /// <summary>The one line to show for a failed call, and the exit code.</summary>
    public CliException Explain(RpcException failure) => failure.StatusCode switch
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
}
