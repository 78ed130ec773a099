using System.Net;
using System.Net.Http.Headers;
using System.Text;

namespace Keybrake.Client.Benchmarks;

/// <summary>The terminal handler in place of the network: answers every send as Resend does, <c>{"id":...}</c> (SendEmailResponse in Resend's OpenAPI description).</summary>
internal sealed class StubResendHandler : HttpMessageHandler
{
    private static readonly byte[] s_body = Encoding.UTF8.GetBytes("""{"id":"49a3999c-0ce1-4ea6-ab68-afcd6dc2e794"}""");

    private StubResendHandler()
    {
    }

    public static StubResendHandler Email() => new();

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
        Task.FromResult(Respond(request));

    protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken) => Respond(request);

    private static HttpResponseMessage Respond(HttpRequestMessage request)
    {
        var content = new ByteArrayContent(s_body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json", "utf-8");
        return new HttpResponseMessage(HttpStatusCode.OK) { Content = content, RequestMessage = request };
    }
}
