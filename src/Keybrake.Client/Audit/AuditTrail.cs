using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Keybrake.Client;

/// <summary>
/// Hands each audit record to every sink: those registered in DI, plus the JSON-lines file when
/// <see cref="KeybrakeAuditOptions.FilePath"/> is set. A failing sink is logged and never fails the call.
/// </summary>
internal sealed class AuditTrail : IAsyncDisposable, IDisposable
{
    private readonly IAuditSink[] _sinks;
    private readonly JsonLinesAuditSink? _file;
    private readonly ILogger<AuditTrail> _logger;

    public AuditTrail(IEnumerable<IAuditSink> sinks, IOptions<KeybrakeOptions> options, ILoggerFactory loggerFactory)
    {
        _logger = loggerFactory.CreateLogger<AuditTrail>();
        var all = sinks.ToList();
        if (options.Value.Audit.FilePath is { Length: > 0 } path)
        {
            _file = new JsonLinesAuditSink(path, loggerFactory.CreateLogger<JsonLinesAuditSink>());
            all.Add(_file);
        }

        _sinks = [.. all];
    }

    public bool IsEnabled => _sinks.Length > 0;

    public async ValueTask WriteAsync(AuditRecord record, CancellationToken cancellationToken)
    {
        foreach (var sink in _sinks)
        {
            try
            {
                await sink.WriteAsync(record, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception exception) when (exception is not OperationCanceledException)
            {
                Log.AuditSinkFailed(_logger, sink.GetType().Name, record.RecordId, exception);
            }
        }
    }

    /// <summary>Drains the file sink's queue to disk.</summary>
    public ValueTask DisposeAsync() => _file?.DisposeAsync() ?? ValueTask.CompletedTask;

    /// <summary>For hosts disposed synchronously: the file sink stops taking records and finishes in the background.</summary>
    public void Dispose() => _file?.Dispose();
}
