using Stripe;

namespace Keybrake.Client.Demo;

/// <summary>
/// An agent with a bug: asked to refund one order, it refunds every order, treats every error as a reason
/// to try again, and when refunds stop working tries to pay the money out instead.
/// </summary>
internal sealed class RunawayRefundAgent
{
    private const int RetriesPerOrder = 4;

    private readonly RefundService _refunds;
    private readonly PayoutService _payouts;
    private readonly DemoConsole _console;
    private readonly List<AgentCall> _outcomes = [];

    public RunawayRefundAgent(StripeClient stripe, DemoConsole console)
    {
        _refunds = new RefundService(stripe);
        _payouts = new PayoutService(stripe);
        _console = console;
    }

    public IReadOnlyList<AgentCall> Outcomes => _outcomes;

    public async Task RunAsync(IReadOnlyList<Order> orders, CancellationToken cancellationToken)
    {
        foreach (var order in orders)
        {
            // "Refund the order" with no amount: Stripe refunds the rest of the charge, and Keybrake
            // reserves exactly that, because it saw the charge go through.
            for (var attempt = 0; attempt <= RetriesPerOrder; attempt++)
            {
                var call = await TryAsync($"refund {order.ChargeId} ({order.Description})", () =>
                    _refunds.CreateAsync(new RefundCreateOptions { Charge = order.ChargeId }, cancellationToken: cancellationToken));
                if (call.Allowed)
                {
                    break; // the bug is not in success handling
                }
            }
        }

        await TryAsync("pay out the balance instead", () =>
            _payouts.CreateAsync(new PayoutCreateOptions { Amount = 100_000, Currency = "usd" }, cancellationToken: cancellationToken));
    }

    private async Task<AgentCall> TryAsync<T>(string what, Func<Task<T>> call)
        where T : IStripeEntity
    {
        AgentCall outcome;
        try
        {
            var result = await call();
            outcome = new AgentCall(what, Allowed: true, Reason: null, Amount: result is Refund refund ? refund.Amount : 0);
        }
        catch (StripeException denied) when (denied.StripeError?.Code?.StartsWith("keybrake_", StringComparison.Ordinal) == true)
        {
            outcome = new AgentCall(what, Allowed: false, Reason: denied.StripeError.Code["keybrake_".Length..], Amount: 0);
        }

        _outcomes.Add(outcome);
        _console.Call(_outcomes.Count, outcome);
        return outcome;
    }
}

/// <summary>An order the agent was asked about: its charge and what it was for.</summary>
internal sealed record Order(string ChargeId, string Description);

/// <summary>One call the agent made and what Keybrake decided.</summary>
internal sealed record AgentCall(string What, bool Allowed, string? Reason, long Amount);
