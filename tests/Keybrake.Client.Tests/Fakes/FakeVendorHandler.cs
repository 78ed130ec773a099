using System.Collections.Concurrent;
using System.Net;
using System.Text;

namespace Keybrake.Client.Tests;

/// <summary>
/// The terminal handler that plays the vendor: records every request it receives and answers 200 with a
/// JSON body that echoes the request's <c>amount_cents</c>, unless a test queued another answer.
/// </summary>
internal sealed class FakeVendorHandler : HttpMessageHandler
{
    private readonly ConcurrentQueue<ReceivedRequest> _received = new();
    private readonly ConcurrentQueue<Func<HttpRequestMessage, HttpResponseMessage>> _answers = new();

    public IReadOnlyList<ReceivedRequest> Received => [.. _received];

    /// <summary>The next request gets this status and body.</summary>
    public void RespondNext(HttpStatusCode status, string json = "{}") =>
        _answers.Enqueue(_ => Json(status, json));

    /// <summary>The next request fails as if the connection broke.</summary>
    public void ThrowNext(Exception exception) => _answers.Enqueue(_ => throw exception);

    /// <summary>The next request is answered by <paramref name="answer"/>.</summary>
    public void AnswerNext(Func<HttpRequestMessage, HttpResponseMessage> answer) => _answers.Enqueue(answer);

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var body = request.Content is null ? string.Empty : await request.Content.ReadAsStringAsync(cancellationToken);
        var headers = request.Headers.ToDictionary(h => h.Key, h => string.Join(",", h.Value), StringComparer.OrdinalIgnoreCase);
        _received.Enqueue(new ReceivedRequest(request.Method.Method, request.RequestUri!, headers, body));

        var response = _answers.TryDequeue(out var answer) ? answer(request) : Echo(body);
        response.RequestMessage = request;
        return response;
    }

    private static HttpResponseMessage Echo(string body)
    {
        var amount = body.Split('&').Select(p => p.Split('=')).FirstOrDefault(p => p is ["amount_cents", _])?[1];
        return Json(HttpStatusCode.OK, amount is null ? """{"ok":true}""" : $$"""{"ok":true,"amount_cents":{{amount}}}""");
    }

    private static HttpResponseMessage Json(HttpStatusCode status, string json) =>
        new(status) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
}

/// <summary>One request as the vendor saw it.</summary>
internal sealed record ReceivedRequest(string Method, Uri Uri, IReadOnlyDictionary<string, string> Headers, string Body)
{
    public string? Authorization => Headers.TryGetValue("Authorization", out var value) ? value : null;

    public string? Header(string name) => Headers.TryGetValue(name, out var value) ? value : null;
}
