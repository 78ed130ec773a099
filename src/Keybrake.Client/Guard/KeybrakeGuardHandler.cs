namespace Keybrake.Client;

/// <summary>
/// The <see cref="DelegatingHandler"/> that sits in a vendor SDK's <see cref="HttpClient"/>. All the work is in
/// <see cref="GuardPipeline"/>; the handler only binds it to one vendor profile.
/// </summary>
internal sealed class KeybrakeGuardHandler : DelegatingHandler
{
    /// <summary>Marks a request the guard has already taken, so a second guard in the same chain passes it through.</summary>
    internal static readonly HttpRequestOptionsKey<bool> GuardedOption = new("Keybrake.Guarded");

    private readonly GuardPipeline _pipeline;
    private readonly VendorProfile _vendor;
    private readonly Func<HttpRequestMessage, CancellationToken, Task<HttpResponseMessage>> _next;

    public KeybrakeGuardHandler(GuardPipeline pipeline, VendorProfile vendor)
    {
        _pipeline = pipeline;
        _vendor = vendor;
        _next = base.SendAsync;
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (request.Options.TryGetValue(GuardedOption, out var guarded) && guarded)
        {
            return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }

        // The mark lasts for this send only: a handler outside the guard that re-sends the same request
        // (a retry) must pass the guard again.
        request.Options.Set(GuardedOption, true);
        try
        {
            return await _pipeline.SendAsync(_vendor, request, _next, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            request.Options.Set(GuardedOption, false);
        }
    }

    // The guard may wait on the budget ledger; a synchronous send would have to block on that, so it refuses
    // instead of silently bypassing the guard (the base class would forward the request unchecked).
    protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken) =>
        throw new NotSupportedException(
            "Keybrake guards asynchronous sends only. Use HttpClient.SendAsync (the Stripe, Twilio and Resend SDKs' async methods do).");
}
