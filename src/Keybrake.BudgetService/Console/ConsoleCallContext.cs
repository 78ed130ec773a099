using Grpc.Core;

namespace Keybrake.BudgetService.OperatorConsole;

/// <summary>
/// The context of an admin call the console makes in-process: the same service code the gRPC and REST admin API run,
/// with the console's session (checked before the page ran) standing in for the admin token.
/// </summary>
internal sealed class ConsoleCallContext(string method, CancellationToken cancellationToken) : ServerCallContext
{
    protected override string MethodCore => method;

    protected override string HostCore => "console";

    protected override string PeerCore => "console";

    protected override DateTime DeadlineCore => DateTime.MaxValue;

    protected override Metadata RequestHeadersCore { get; } = [];

    protected override CancellationToken CancellationTokenCore => cancellationToken;

    protected override Metadata ResponseTrailersCore { get; } = [];

    protected override Status StatusCore { get; set; }

    protected override WriteOptions? WriteOptionsCore { get; set; }

    protected override AuthContext AuthContextCore { get; } = new(null, []);

    protected override ContextPropagationToken CreatePropagationTokenCore(ContextPropagationOptions? options) =>
        throw new NotSupportedException("the console's admin calls start no calls of their own");

    protected override Task WriteResponseHeadersAsyncCore(Metadata responseHeaders) => Task.CompletedTask;
}
