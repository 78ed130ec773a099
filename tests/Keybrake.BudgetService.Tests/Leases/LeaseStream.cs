using Grpc.Core;
using Keybrake.Protocol;

namespace Keybrake.BudgetService.Tests.Leases;

/// <summary>A process's key event stream: its subscriber id (a lease's holder) and the events it receives, heartbeats left out.</summary>
internal sealed class LeaseStream : IAsyncDisposable
{
    private readonly CancellationTokenSource _cancel = new(TimeSpan.FromSeconds(60));
    private readonly AsyncServerStreamingCall<KeyEvent> _call;
    private readonly IAsyncEnumerator<KeyEvent> _events;
    private bool _disposed;

    private LeaseStream(AsyncServerStreamingCall<KeyEvent> call)
    {
        _call = call;
        _events = call.ResponseStream.ReadAllAsync(_cancel.Token).Where(e => e.Kind != KeyEventKind.Heartbeat).GetAsyncEnumerator(_cancel.Token);
    }

    public string Holder { get; private set; } = string.Empty;

    public static async Task<LeaseStream> OpenAsync(Protocol.Budget.BudgetClient client, params string[] keyIds)
    {
        var stream = new LeaseStream(client.WatchKeys(new WatchKeysRequest { KeyIds = { keyIds }, SubscriberName = "host/1/test" }));
        await stream._events.MoveNextAsync();
        stream.Holder = stream._events.Current.SubscriberId;
        return stream;
    }

    /// <summary>The next event, whatever it is.</summary>
    public async Task<KeyEvent> NextAsync() =>
        await _events.MoveNextAsync() ? _events.Current : throw new InvalidOperationException("The stream ended.");

    /// <summary>The next event of <paramref name="kind"/>, skipping others.</summary>
    public async Task<KeyEvent> NextAsync(KeyEventKind kind)
    {
        while (await _events.MoveNextAsync())
        {
            if (_events.Current.Kind == kind)
            {
                return _events.Current;
            }
        }

        throw new InvalidOperationException($"The stream ended before a {kind} event.");
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return; // closed early by a test, then again at the end of its scope
        }

        _disposed = true;
        await _cancel.CancelAsync();
        try
        {
            await _events.DisposeAsync();
        }
        catch (OperationCanceledException)
        {
        }
        catch (RpcException)
        {
        }

        _call.Dispose();
        _cancel.Dispose();
    }
}
