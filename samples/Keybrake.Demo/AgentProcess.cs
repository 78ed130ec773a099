using Microsoft.Extensions.DependencyInjection;

namespace Keybrake.Client.Demo;

/// <summary>One agent process of the multi-process demo: the runaway agent, guarded in central mode.</summary>
internal static class AgentProcess
{
    /// <summary>The last line an agent prints, read by the parent: <c>RESULT allowed=4 daily_cap_exceeded=12</c>.</summary>
    public const string ResultPrefix = "RESULT ";

    public static async Task<int> RunAsync(string[] args)
    {
        string? name = null, service = null, stripe = null, outbox = null, clientTokenFile = null;
        var orders = new List<Order>();
        for (var i = 1; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--name": name = args[++i]; break;
                case "--service": service = args[++i]; break;
                case "--client-token-file": clientTokenFile = args[++i]; break;
                case "--stripe": stripe = args[++i]; break;
                case "--outbox": outbox = args[++i]; break;
                case "--order": orders.Add(new Order(args[++i], args[++i])); break;
                default: throw new ArgumentException($"Unknown agent argument '{args[i]}'.");
            }
        }

        if (name is null || service is null || stripe is null || outbox is null || clientTokenFile is null)
        {
            throw new ArgumentException("An agent needs --name, --service, --client-token-file, --stripe and --outbox.");
        }

        var console = new DemoConsole(Console.Out, prefix: $"[{name}] ");
        IReadOnlyList<AgentCall> outcomes;
        await using (var provider = MultiProcessDemo.Central(new Uri(service), outbox, stripe, clientTokenFile))
        {
            var agent = new RunawayRefundAgent(provider.GetRequiredService<global::Stripe.StripeClient>(), console);
            using (KeybrakeRun.Begin($"run_refund_0200_{name}"))
            {
                await agent.RunAsync(orders, CancellationToken.None);
            }

            outcomes = agent.Outcomes;
        }

        // Disposing the provider above sent the last settlements and audit records to the service.
        var denials = DemoConsole.Denials(outcomes).Select(d => $"{d.Key}={d.Value}");
        Console.WriteLine($"{ResultPrefix}allowed={outcomes.Count(o => o.Allowed)} {string.Join(' ', denials)}");
        return 0;
    }
}
