using System.Diagnostics;
using System.Globalization;
using Grpc.Net.Client;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Client.TestUtilities.Stripe;
using Keybrake.Protocol;
using Microsoft.Extensions.DependencyInjection;

namespace Keybrake.Client.Demo;

/// <summary>
/// The same runaway agent in several processes at once, against one budget service: the $100 cap holds
/// across all of them, because every reservation is made at the service.
/// </summary>
internal static class MultiProcessDemo
{
    private const int OrdersPerAgent = 4;

    public static async Task<int> RunAsync(int processes)
    {
        using var stripeStandIn = StripeStub.Start();
        var caps = new Dictionary<string, string?>(BudgetServiceHost.Key(DemoSettings.AgentKey, "100"));
        foreach (var (name, value) in BudgetServiceHost.Key(DemoSettings.CheckoutKey, "10000"))
        {
            caps[name] = value;
        }

        await using var service = await BudgetServiceHost.StartAsync(caps);

        // As an operator would with `keybrake clients create`: one credential for the checkout, one for the agents,
        // each scoped to its own key. The agents read theirs from a file, so it is on no command line.
        var (checkoutToken, agentsToken) = await IssueCredentialsAsync(service.Address);
        var checkoutTokenFile = BudgetServiceHost.WriteClientTokenFile(service.Directory, checkoutToken);
        var agentsTokenFile = BudgetServiceHost.WriteClientTokenFile(service.Directory, agentsToken);

        // Processes with different credentials keep their audit outboxes apart: a record is shipped by a process
        // whose credential covers its key.
        var outbox = Path.Combine(service.Directory, "audit-outbox.db");
        var console = new DemoConsole(Console.Out);
        console.Title(stripeStandIn.Url, $"{processes} agent processes, one budget service at {service.Address}");

        await using var provider = Central(service.Address, Path.Combine(service.Directory, "checkout-outbox.db"), stripeStandIn.Url, checkoutTokenFile);
        var orders = await Checkout.TakeOrdersAsync(provider, stripeStandIn.Url, count: OrdersPerAgent * processes, amountCents: 2500);
        console.Orders(orders);

        var agents = Enumerable.Range(1, processes)
            .Select(i => RunAgentAsync($"agent-{i}", orders.Skip((i - 1) * OrdersPerAgent).Take(OrdersPerAgent), service.Address, stripeStandIn.Url, outbox, agentsTokenFile, console))
            .ToList();
        var results = await Task.WhenAll(agents);

        var spend = await provider.GetRequiredService<IKeybrakeAdmin>().GetDailySpendAsync(DemoSettings.AgentKey);
        var seen = StandInCounts.Of(stripeStandIn);
        var denials = results.SelectMany(r => r.Denials).GroupBy(d => d.Key).ToDictionary(g => g.Key, g => g.Sum(d => d.Value));
        var allowed = results.Sum(r => r.Allowed);
        console.Summary(allowed, denials, spend, seen);
        return results.All(r => r.ExitCode == 0) && spend.Settled <= spend.Cap && allowed == seen.Refunds && seen.Payouts == 0 ? 0 : 1;
    }

    /// <summary>The guard in central mode: the same keys and policies, with the budget service holding the caps.</summary>
    public static ServiceProvider Central(Uri service, string outbox, string stripe, string clientTokenFile, string? agentKeyId = null)
    {
        var services = new ServiceCollection();
        services.AddSingleton(DemoSettings.Load(stripe));
        services.AddKeybrake()
            .UseBudgetService(o =>
            {
                o.Address = service;
                o.ClientTokenFile = clientTokenFile;
                o.AdminToken = BudgetServiceHost.AdminToken;
                o.OutboxPath = outbox;
            })
            .AddStripeClient(o => { o.KeyId = agentKeyId ?? DemoSettings.AgentKey; o.ApiBase = stripe; });
        return services.BuildServiceProvider();
    }

    /// <summary>Issues the checkout's and the agents' client credentials through the admin API; each token is shown once.</summary>
    private static async Task<(string Checkout, string Agents)> IssueCredentialsAsync(Uri service)
    {
        using var channel = GrpcChannel.ForAddress(service);
        var admin = BudgetServiceHost.AdminClient(channel);
        var checkout = await admin.CreateClientAsync(new CreateClientRequest { ClientId = "demo-checkout", KeyIds = { DemoSettings.CheckoutKey } });
        var agents = await admin.CreateClientAsync(new CreateClientRequest { ClientId = "demo-agents", KeyIds = { DemoSettings.AgentKey } });
        return (checkout.Token, agents.Token);
    }

    private static async Task<AgentResult> RunAgentAsync(string name, IEnumerable<Order> orders, Uri service, string stripe, string outbox, string clientTokenFile, DemoConsole console)
    {
        var start = new ProcessStartInfo { RedirectStandardOutput = true, UseShellExecute = false };
        var self = typeof(MultiProcessDemo).Assembly.Location;
        if (Environment.ProcessPath is { } host && Path.GetFileNameWithoutExtension(host) == "dotnet")
        {
            start.FileName = host;
            start.ArgumentList.Add(self);
        }
        else
        {
            start.FileName = Environment.ProcessPath ?? Path.ChangeExtension(self, null);
        }

        foreach (var argument in new[] { "--agent", "--name", name, "--service", service.ToString(), "--client-token-file", clientTokenFile, "--stripe", stripe, "--outbox", outbox })
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var order in orders)
        {
            start.ArgumentList.Add("--order");
            start.ArgumentList.Add(order.ChargeId);
            start.ArgumentList.Add(order.Description);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("The agent process did not start.");
        var result = new AgentResult();
        while (await process.StandardOutput.ReadLineAsync() is { } line)
        {
            if (line.StartsWith(AgentProcess.ResultPrefix, StringComparison.Ordinal))
            {
                result.Parse(line[AgentProcess.ResultPrefix.Length..]);
            }
            else
            {
                console.Line(line);
            }
        }

        await process.WaitForExitAsync();
        result.ExitCode = process.ExitCode;
        return result;
    }

    /// <summary>What one agent process reported: how many calls were allowed, and the denials by reason.</summary>
    private sealed class AgentResult
    {
        public int Allowed { get; private set; }

        public Dictionary<string, int> Denials { get; } = [];

        public int ExitCode { get; set; }

        /// <summary>Reads <c>allowed=4 daily_cap_exceeded=12 ...</c>.</summary>
        public void Parse(string text)
        {
            foreach (var pair in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                var (name, count) = (pair[..pair.IndexOf('=', StringComparison.Ordinal)], int.Parse(pair[(pair.IndexOf('=', StringComparison.Ordinal) + 1)..], CultureInfo.InvariantCulture));
                if (name == "allowed")
                {
                    Allowed = count;
                }
                else
                {
                    Denials[name] = count;
                }
            }
        }
    }
}
