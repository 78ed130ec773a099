namespace Keybrake.Client.TestUtilities.Twilio;

/// <summary>
/// Sends requests for any <c>*.twilio.com</c> host to the stub instead: the Twilio SDK builds its URLs on a
/// hard-coded <c>api.twilio.com</c>, so tests put this in place of the primary handler, under the guard. It acts
/// like a name server that resolves Twilio's hosts to the stub: the guard sees, checks and audits the real
/// Twilio host (an https request to api.twilio.com, which needs no <c>VendorEndpoint</c>), and the request keeps
/// its address once sent, so whatever reads it afterwards (a price check that fetches the message) sees Twilio's.
/// </summary>
public sealed class TwilioHostRewriteHandler : DelegatingHandler
{
    private readonly Uri _stub;

    public TwilioHostRewriteHandler(string stubUrl, HttpMessageHandler? inner = null)
        : base(inner ?? new SocketsHttpHandler { AllowAutoRedirect = false })
    {
        _stub = new Uri(stubUrl);
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (request.RequestUri is not { } uri || !uri.Host.EndsWith("twilio.com", StringComparison.OrdinalIgnoreCase))
        {
            return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }

        request.RequestUri = new UriBuilder(uri) { Scheme = _stub.Scheme, Host = _stub.Host, Port = _stub.Port }.Uri;
        try
        {
            return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            request.RequestUri = uri;
        }
    }
}
