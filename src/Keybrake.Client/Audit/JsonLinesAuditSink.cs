using System.Text.Json;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace Keybrake.Client;

/// <summary>
/// Appends audit records to a file as JSON lines. Records are queued and written in batches by one
/// background writer, so the request path never waits on the disk; disposing drains the queue.
/// </summary>
internal sealed class JsonLinesAuditSink : IAuditSink, IAsyncDisposable, IDisposable
{
    private const int QueueCapacity = 16_384;
    private static readonly byte[] s_newLine = "\n"u8.ToArray();

    private readonly Channel<AuditRecord> _queue = Channel.CreateBounded<AuditRecord>(
        new BoundedChannelOptions(QueueCapacity) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });

    private readonly string _path;
    private readonly ILogger _logger;
    private readonly Task _writer;

    public JsonLinesAuditSink(string path, ILogger<JsonLinesAuditSink> logger)
    {
        _path = Path.GetFullPath(path);
        _logger = logger;
        var directory = Path.GetDirectoryName(_path);
        if (!string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
        }

        _writer = Task.Run(WriteLoopAsync);
    }

    // Waits only when the queue is full, which makes a stuck disk slow calls down rather than lose records.
    public ValueTask WriteAsync(AuditRecord record, CancellationToken cancellationToken) =>
        _queue.Writer.WriteAsync(record, cancellationToken);

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _writer.ConfigureAwait(false);
    }

    /// <summary>
    /// Stops taking records; the writer drains the queue in the background. Only <see cref="DisposeAsync"/>
    /// waits until every record is on disk, so hosts should dispose asynchronously.
    /// </summary>
    public void Dispose() => _queue.Writer.TryComplete();

    private async Task WriteLoopAsync()
    {
        var stream = new FileStream(_path, FileMode.Append, FileAccess.Write, FileShare.Read, bufferSize: 64 * 1024, useAsync: true);
        await using (stream.ConfigureAwait(false))
        {
            var json = new Utf8JsonWriter(stream);
            await using var jsonScope = json.ConfigureAwait(false);
            var reader = _queue.Reader;
            while (await reader.WaitToReadAsync().ConfigureAwait(false))
            {
                try
                {
                    while (reader.TryRead(out var record))
                    {
                        JsonSerializer.Serialize(json, record, AuditJsonContext.Default.AuditRecord);
                        await json.FlushAsync().ConfigureAwait(false);
                        json.Reset();
                        await stream.WriteAsync(s_newLine).ConfigureAwait(false);
                    }

                    await stream.FlushAsync().ConfigureAwait(false);
                }
                catch (Exception exception) when (exception is IOException or UnauthorizedAccessException or NotSupportedException or InvalidOperationException)
                {
                    // Keep the writer alive: a dead writer would fill the queue and stall every guarded call.
                    Log.AuditWriteFailed(_logger, _path, exception);
                    json.Reset();
                }
            }
        }
    }
}
