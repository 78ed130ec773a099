using Microsoft.Extensions.Options;

namespace Keybrake.Client.Central;

/// <summary>
/// Sits under grpc's balancer, where each request already names the replica it goes to: tells
/// <see cref="ReplicaHealth"/> which replicas fail calls (no connection, or an immediate <c>Unavailable</c>) and
/// which answer, notes which replica a tagged long stream went to, and sends <see cref="KeybrakeBudgetServiceOptions.TlsHostName"/> as the host the TLS certificate
/// is checked against (.NET takes the TLS server name from the Host header).
/// </summary>
internal sealed class ReplicaTrackingHandler : DelegatingHandler
{
    /// <summary>grpc's <c>Unavailable</c>, in the headers of a call that failed before it sent anything.</summary>
    private const string Unavailable = "14";

    private readonly ReplicaHealth _health;
    private readonly string? _tlsHostName;

    public ReplicaTrackingHandler(ReplicaHealth health, IOptions<KeybrakeBudgetServiceOptions> options)
    {
        _health = health;
        _tlsHostName = options.Value.TlsHostName;
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var target = request.RequestUri!;
        if (request.Headers.TryGetValues(ReplicaHealth.StreamTagHeader, out var tags))
        {
            request.Headers.Remove(ReplicaHealth.StreamTagHeader);
            _health.StreamSent(tags.First(), target.Host, target.Port);
        }

        if (_tlsHostName is not null)
        {
            request.Headers.Host = target.IsDefaultPort ? _tlsHostName : $"{_tlsHostName}:{target.Port}";
        }

        HttpResponseMessage response;
        try
        {
            response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is HttpRequestException or IOException && !cancellationToken.IsCancellationRequested)
        {
            _health.Failed(target.Host, target.Port, exception.Message);
            throw;
        }

        if (response.Headers.TryGetValues("grpc-status", out var status) && status.FirstOrDefault() == Unavailable)
        {
            _health.Failed(target.Host, target.Port, response.Headers.TryGetValues("grpc-message", out var message) ? Uri.UnescapeDataString(message.FirstOrDefault() ?? string.Empty) : "Unavailable");
        }
        else
        {
            _health.Answered(target.Host, target.Port);
        }

        return response;
    }
}
