using Grpc.Net.Client;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Client.TestUtilities.Stripe;
using Keybrake.Protocol;
using Microsoft.Extensions.DependencyInjection;
using Stripe;

namespace Keybrake.Client.Demo;

/// <summary>
/// One run budget across LLM tokens and SaaS dollars: before each refund the agent asks an LLM (through a stand-in for a
/// LiteLLM proxy, which posts LiteLLM's spend logs to the budget service), and the key's $50 run cap counts both. The
/// tokens alone are LiteLLM's to cap; the refund that would take the run past $50, tokens included, is denied.
/// </summary>
internal static class LlmRunDemo
{
    private const string RunId = "run_refund_llm_0300";
    private const string RunCap = "50";

    public static async Task<int> RunAsync()
    {
        using var stripeStandIn = StripeStub.Start();
        var settings = new Dictionary<string, string?>(BudgetServiceHost.Key(DemoSettings.AgentKey, "100", runCap: RunCap))
        {
            [$"BudgetService:Keys:{DemoSettings.AgentKey}:Policy:RunCapIncludes:0"] = "llm",
        };
        foreach (var (name, value) in BudgetServiceHost.Key(DemoSettings.CheckoutKey, "10000"))
        {
            settings[name] = value;
        }

        await using var service = await BudgetServiceHost.StartAsync(settings);
        var (agentsToken, gatewayToken) = await IssueCredentialsAsync(service.Address);
        using var gateway = FakeLlmGateway.Start(service.RestAddress, gatewayToken);

        var console = new DemoConsole(Console.Out);
        console.Title(stripeStandIn.Url, $"one budget service at {service.Address}, with LiteLLM's spend logs");
        console.Line($"Key 'refund-agent': run cap ${RunCap}.00 counting the run's LLM spend (RunCapIncludes: [\"llm\"]).");
        console.Line("Before each refund the agent asks an LLM through a LiteLLM stand-in, which reports each call's cost.");
        console.Line(string.Empty);

        await using var provider = MultiProcessDemo.Central(
            service.Address, Path.Combine(service.Directory, "outbox.db"), stripeStandIn.Url, BudgetServiceHost.WriteClientTokenFile(service.Directory, agentsToken));
        var orders = await Checkout.TakeOrdersAsync(provider, stripeStandIn.Url, count: 4, amountCents: 2500);
        console.Orders(orders);

        var refunds = new RefundService(provider.GetRequiredService<StripeClient>());
        var calls = new List<AgentCall>();
        var tokens = 0L;
        using (KeybrakeRun.Begin(RunId))
        {
            foreach (var order in orders)
            {
                var thought = await gateway.ThinkAsync(RunId, $"Should {order.Description} be refunded?", CancellationToken.None);
                tokens += thought.Tokens;
                console.Line($"     LLM: {thought.Tokens:N0} tokens, {thought.Cost} (reported to the budget service by the gateway)");
                AgentCall call;
                try
                {
                    var refund = await refunds.CreateAsync(new RefundCreateOptions { Charge = order.ChargeId });
                    call = new AgentCall($"refund {order.ChargeId} ({order.Description})", Allowed: true, Reason: null, Amount: refund.Amount);
                }
                catch (StripeException denied) when (denied.StripeError?.Code?.StartsWith("keybrake_", StringComparison.Ordinal) == true)
                {
                    call = new AgentCall($"refund {order.ChargeId} ({order.Description})", Allowed: false, Reason: denied.StripeError.Code["keybrake_".Length..], Amount: 0);
                    console.Line($"     {denied.StripeError.Message}");
                }

                calls.Add(call);
                console.Call(calls.Count, call);
            }
        }

        using var channel = GrpcChannel.ForAddress(service.Address);
        var run = await BudgetServiceHost.AdminClient(channel).GetRunAsync(new GetRunRequest { RunId = RunId });
        var seen = StandInCounts.Of(stripeStandIn);
        console.Line(string.Empty);
        console.Line($"Run {RunId}, as `keybrake spend --run {RunId}` shows it:");
        console.Line($"  LLM tokens:   {Usd.FromMicros(run.LlmMicroUsd)} ({run.LlmCalls} calls, {tokens:N0} tokens)");
        console.Line($"  SaaS dollars: {Usd.FromMicros(run.SaasSettledMicroUsd)} settled, {Usd.FromMicros(run.SaasReservedMicroUsd)} reserved ({seen.Refunds} refunds reached the Stripe stand-in)");
        console.Line($"  total:        {Usd.FromMicros(run.TotalMicroUsd)} against the ${RunCap}.00 run cap");

        // The cap held if every refund allowed fitted beside the tokens reported before it, and the run cap stopped the rest.
        var reasons = calls.Where(c => !c.Allowed).Select(c => c.Reason).Distinct().ToList();
        var held = seen.Refunds == calls.Count(c => c.Allowed) && reasons.SequenceEqual([ReasonCodes.RunCapExceeded]) && calls.Any(c => c.Allowed);
        console.Line(held
            ? "The combined cap stopped the run: tokens and refunds together, on one run id."
            : "The combined cap did not hold.");
        return held ? 0 : 1;
    }

    /// <summary>The agent's credential (its key) and the gateway's (the LiteLLM intake only), as an operator issues them.</summary>
    private static async Task<(string Agents, string Gateway)> IssueCredentialsAsync(Uri service)
    {
        using var channel = GrpcChannel.ForAddress(service);
        var admin = BudgetServiceHost.AdminClient(channel);
        var agents = await admin.CreateClientAsync(new CreateClientRequest { ClientId = "demo-llm-agents", KeyIds = { DemoSettings.AgentKey, DemoSettings.CheckoutKey } });
        var gateway = await admin.CreateClientAsync(new CreateClientRequest { ClientId = "litellm-proxy", Integrations = { "litellm" } });
        return (agents.Token, gateway.Token);
    }
}
