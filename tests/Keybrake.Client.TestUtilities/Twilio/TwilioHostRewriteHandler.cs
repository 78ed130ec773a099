namespace Keybrake.Client.TestUtilities.Twilio;

/// <summary>
/// Sends requests for any <c>*.twilio.com</c> host to the stub instead: the Twilio SDK builds its URLs on a
/// hard-coded <c>api.twilio.com</c>, so tests put this in place of the primary handler, under the guard.
/// </summary>
public sealed class TwilioHostRewriteHandler : DelegatingHandler
{
    private readonly Uri _stub;

    public TwilioHostRewriteHandler(string stubUrl, HttpMessageHandler? inner = null)
        : base(inner ?? new SocketsHttpHandler { AllowAutoRedirect = false })
    {
        _stub = new Uri(stubUrl);
    }

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (request.RequestUri is { } uri && uri.Host.EndsWith("twilio.com", StringComparison.OrdinalIgnoreCase))
        {
            request.RequestUri = new UriBuilder(uri) { Scheme = _stub.Scheme, Host = _stub.Host, Port = _stub.Port }.Uri;
        }

        return base.SendAsync(request, cancellationToken);
    }
}
