namespace Keybrake.Client;

/// <summary>
/// The <see cref="DelegatingHandler"/> that sits in a vendor SDK's <see cref="HttpClient"/>. All the work is in
/// <see cref="GuardPipeline"/>; the handler only binds it to one vendor profile.
/// </summary>
internal sealed class KeybrakeGuardHandler : DelegatingHandler
{
    private readonly GuardPipeline _pipeline;
    private readonly VendorProfile _vendor;
    private readonly Func<HttpRequestMessage, CancellationToken, Task<HttpResponseMessage>> _next;

    public KeybrakeGuardHandler(GuardPipeline pipeline, VendorProfile vendor)
    {
        _pipeline = pipeline;
        _vendor = vendor;
        _next = base.SendAsync;
    }

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
        _pipeline.SendAsync(_vendor, request, _next, cancellationToken);

    // The guard may wait on the budget ledger; a synchronous send would have to block on that, so it refuses
    // instead of silently bypassing the guard (the base class would forward the request unchecked).
    protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken) =>
        throw new NotSupportedException(
            "Keybrake guards asynchronous sends only. Use HttpClient.SendAsync (the Stripe, Twilio and Resend SDKs' async methods do).");
}
