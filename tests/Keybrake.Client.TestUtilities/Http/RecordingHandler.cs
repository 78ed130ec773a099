using System.Collections.Concurrent;
using System.Net;
using System.Text;

namespace Keybrake.Client.TestUtilities.Http;

/// <summary>
/// The network as the guard's inner handler sees it: records every request that reaches it (address and
/// <c>Authorization</c> header, as sent) and answers it without any socket, so a test can prove that a request
/// was, or was not, sent anywhere.
/// </summary>
public sealed class RecordingHandler : HttpMessageHandler
{
    private readonly Func<HttpRequestMessage, HttpResponseMessage> _answer;
    private readonly ConcurrentQueue<SentRequest> _sent = new();

    /// <param name="answer">The answer to each request; <c>200 {}</c> when empty.</param>
    public RecordingHandler(Func<HttpRequestMessage, HttpResponseMessage>? answer = null)
    {
        _answer = answer ?? (_ => Json(HttpStatusCode.OK, "{}"));
    }

    /// <summary>Every request that reached the network, oldest first.</summary>
    public IReadOnlyList<SentRequest> Sent => [.. _sent];

    public static HttpResponseMessage Json(HttpStatusCode status, string body) =>
        new(status) { Content = new StringContent(body, Encoding.UTF8, "application/json") };

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        _sent.Enqueue(new SentRequest(request.Method.Method, request.RequestUri!, request.Headers.Authorization?.ToString()));
        var response = _answer(request);
        response.RequestMessage = request;
        return Task.FromResult(response);
    }
}

/// <summary>One request as it left for the network.</summary>
public sealed record SentRequest(string Method, Uri Uri, string? Authorization);
