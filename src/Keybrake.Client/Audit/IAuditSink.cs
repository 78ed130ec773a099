namespace Keybrake.Client;

/// <summary>
/// Receives every audit record. Called on the request path once the call is decided, so an implementation
/// should hand the record off quickly (queue it) rather than do slow I/O inline.
/// </summary>
public interface IAuditSink
{
    /// <summary>Accepts one record.</summary>
    ValueTask WriteAsync(AuditRecord record, CancellationToken cancellationToken);
}
