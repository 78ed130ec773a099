using System.Collections.Concurrent;
using Keybrake.Client.TestUtilities.Http;

namespace Keybrake.Client.Twilio.Tests;

/// <summary>Requests as they left for the network (address and credential as sent), recorded before an inner handler forwards them.</summary>
internal sealed class SentRequestLog
{
    private readonly ConcurrentQueue<SentRequest> _sent = new();

    public IReadOnlyList<SentRequest> Sent => [.. _sent];

    /// <summary>Records each request, then hands it on.</summary>
    public sealed class Handler(SentRequestLog log, HttpMessageHandler inner) : DelegatingHandler(inner)
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            log._sent.Enqueue(new SentRequest(request.Method.Method, request.RequestUri!, request.Headers.Authorization?.ToString()));
            return base.SendAsync(request, cancellationToken);
        }
    }
}
