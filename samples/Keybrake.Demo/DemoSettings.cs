using Microsoft.Extensions.Configuration;

namespace Keybrake.Client.Demo;

/// <summary>The demo's keys and policies: appsettings.json, the way an app would configure Keybrake.</summary>
internal static class DemoSettings
{
    public const string AgentKey = "refund-agent";
    public const string CheckoutKey = "checkout";

    /// <summary>
    /// The settings, with both keys' secrets sent to the Stripe stand-in instead of api.stripe.com: the stand-in's
    /// port is only known once it runs, so the override is added here rather than in the file. The guard logs a
    /// warning for each key at start-up.
    /// </summary>
    public static IConfiguration Load(string stripeStandIn) =>
        new ConfigurationBuilder()
            .SetBasePath(AppContext.BaseDirectory)
            .AddJsonFile("appsettings.json")
            .AddInMemoryCollection(new Dictionary<string, string?>
            {
                [$"Keybrake:Keys:{AgentKey}:VendorEndpoint"] = stripeStandIn,
                [$"Keybrake:Keys:{CheckoutKey}:VendorEndpoint"] = stripeStandIn,
            })
            .Build();
}
