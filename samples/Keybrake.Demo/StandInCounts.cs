using Keybrake.Client.TestUtilities.Stripe;

namespace Keybrake.Client.Demo;

/// <summary>What reached the Stripe stand-in: the ground truth the demo checks Keybrake against.</summary>
internal sealed record StandInCounts(int Refunds, long RefundedCents, int Payouts)
{
    public static StandInCounts Of(StripeStub stub)
    {
        var received = stub.Received;
        return new StandInCounts(
            received.Count(r => r.Path == "/v1/refunds" && r.Status == 200),
            stub.SumOfRefundedCents(),
            received.Count(r => r.Path == "/v1/payouts"));
    }
}
