using System.Collections.Concurrent;

namespace Keybrake.Client.Stripe;

/// <summary>
/// Looks up at Stripe the charge or payment intent a refund, capture or confirmation names when the guard has
/// not seen it: <c>GET /v1/charges/{id}</c>, or <c>GET /v1/payment_intents/{id}?expand[]=latest_charge</c> (a
/// payment intent's refundable amount is its latest charge's). What Stripe says is remembered at once, like an
/// object seen in a response, so later calls find it. Concurrent lookups of one object by one key (and account)
/// share one request: a storm of refunds of the same charge costs Stripe one GET.
/// </summary>
internal sealed class StripeObjectLookup
{
    public const string Charge = "charge";
    public const string PaymentIntent = "payment_intent";

    private static readonly string[] s_forwardedHeaders = ["Stripe-Account", "Stripe-Version"];

    private readonly ConcurrentDictionary<(string KeyId, string? Account, string ObjectId), Task<Outcome>> _inFlight = new();

    /// <summary>The object as Stripe describes it, or why it could not be looked up.</summary>
    public async ValueTask<Outcome> FindAsync(VendorCall call, string objectId, string kind, CancellationToken cancellationToken)
    {
        var flight = (call.KeyId, Header(call.Request, "Stripe-Account"), objectId);
        while (true)
        {
            if (_inFlight.TryGetValue(flight, out var running))
            {
                try
                {
                    var shared = await running.WaitAsync(cancellationToken).ConfigureAwait(false);
                    if (shared.Sent)
                    {
                        call.RecordSharedLookup(objectId, shared.Latency);
                    }

                    return shared;
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    continue; // the call that sent it gave up; this one asks again
                }
            }

            var mine = new TaskCompletionSource<Outcome>(TaskCreationOptions.RunContinuationsAsynchronously);
            if (!_inFlight.TryAdd(flight, mine.Task))
            {
                continue;
            }

            try
            {
                // A lookup that ended just before this one started remembered its object before it left the table.
                var outcome = await call.FindObjectAsync(objectId, cancellationToken).ConfigureAwait(false) is { } known
                    ? new Outcome(known, null, TimeSpan.Zero, Sent: false)
                    : await LookUpAsync(call, objectId, kind, cancellationToken).ConfigureAwait(false);
                mine.SetResult(outcome);
                return outcome;
            }
            catch (OperationCanceledException)
            {
                mine.SetCanceled(CancellationToken.None);
                throw;
            }
            catch (Exception exception)
            {
                mine.SetException(exception);
                throw;
            }
            finally
            {
                _inFlight.TryRemove(KeyValuePair.Create(flight, mine.Task));
            }
        }
    }

    private static async ValueTask<Outcome> LookUpAsync(VendorCall call, string objectId, string kind, CancellationToken cancellationToken)
    {
        var escaped = Uri.EscapeDataString(objectId);
        var path = kind == PaymentIntent ? $"/v1/payment_intents/{escaped}?expand%5B%5D=latest_charge" : $"/v1/charges/{escaped}";
        var headers = new List<KeyValuePair<string, string>>(2);
        foreach (var name in s_forwardedHeaders)
        {
            if (Header(call.Request, name) is { } value)
            {
                headers.Add(KeyValuePair.Create(name, value));
            }
        }

        var answer = await call.SendLookupAsync(objectId, path, headers, cancellationToken).ConfigureAwait(false);
        var what = $"{(kind == PaymentIntent ? "payment intent" : "charge")} '{objectId}'";
        if (!answer.IsSuccess)
        {
            var failure = answer switch
            {
                { StatusCode: 404 } => $"Stripe has no {what} (404 on lookup)",
                { Failure: { } why } => $"the lookup of {what} at Stripe failed: {why}",
                _ => $"Stripe answered {answer.StatusCode} to the lookup of {what}",
            };
            return new Outcome(null, failure, answer.Latency, Sent: true);
        }

        var found = StripeObject.Parse(answer.Body.Span);
        if (found is null || !string.Equals(found.Id, objectId, StringComparison.Ordinal) || !string.Equals(found.Object, kind, StringComparison.Ordinal)
            || found.Currency is null || found.GetAmount("amount") is null)
        {
            return new Outcome(null, $"Stripe's answer to the lookup of {what} is not a {kind} the guard can read", answer.Latency, Sent: true);
        }

        var remembered = ToVendorObject(found, kind);
        await call.RememberNowAsync(remembered, cancellationToken).ConfigureAwait(false);
        if (found.LatestCharge is { Id: { } chargeId, Currency: not null } latest)
        {
            // The charge is what a later refund by charge id names: remembered too, so it needs no lookup either.
            await call.RememberNowAsync(ToVendorObject(latest, Charge) with { Id = chargeId }, cancellationToken).ConfigureAwait(false);
        }

        return new Outcome(remembered, null, answer.Latency, Sent: true);
    }

    /// <summary>
    /// What the guard keeps of a charge or payment intent. A payment intent's amount and refunds are its latest
    /// charge's, when it has one: that is what a refund without an amount gives back.
    /// </summary>
    private static VendorObject ToVendorObject(StripeObject found, string kind)
    {
        var latest = kind == PaymentIntent ? found.LatestCharge : null;
        return new VendorObject(found.Id!, kind)
        {
            Customer = found.Customer ?? latest?.Customer,
            Account = found.ConnectedAccount ?? latest?.ConnectedAccount,
            Currency = found.Currency ?? latest?.Currency,
            Amount = latest?.GetAmount("amount") ?? found.GetAmount("amount") ?? 0,
            AmountReturned = (latest ?? found).GetAmount("amount_refunded") ?? 0,
        };
    }

    private static string? Header(HttpRequestMessage request, string name) =>
        request.Headers.TryGetValues(name, out var values) ? values.FirstOrDefault() : null;

    /// <summary>
    /// What a lookup found (<paramref name="Object"/>), or why it found nothing (<paramref name="Failure"/>);
    /// <paramref name="Sent"/> is false when the object turned out to be known and nothing went to Stripe.
    /// </summary>
    public sealed record Outcome(VendorObject? Object, string? Failure, TimeSpan Latency, bool Sent);
}
