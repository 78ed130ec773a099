using Keybrake.Client.Benchmarks;

namespace Keybrake.Client.LoadAgent;

/// <summary>
/// <c>--stripe stub</c>: the guard's innermost handler, answering in this process with the benchmarks' canned Stripe
/// objects (a customer for a read, a charge of USD 20.00 for a POST; StubStripeHandler.cs, linked from
/// Keybrake.Client.Benchmarks).
/// </summary>
internal sealed class InProcessStripe : HttpMessageHandler
{
    private readonly HttpMessageInvoker _customer = new(StubStripeHandler.Customer());
    private readonly HttpMessageInvoker _charge = new(StubStripeHandler.Charge());

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
        (request.Method == HttpMethod.Get ? _customer : _charge).SendAsync(request, cancellationToken);

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _customer.Dispose();
            _charge.Dispose();
        }

        base.Dispose(disposing);
    }
}
