using Microsoft.Extensions.Configuration;

namespace Keybrake.Client.Demo;

/// <summary>The demo's keys and policies: appsettings.json, the way an app would configure Keybrake.</summary>
internal static class DemoSettings
{
    public const string AgentKey = "refund-agent";
    public const string CheckoutKey = "checkout";

    public static IConfiguration Load() =>
        new ConfigurationBuilder()
            .SetBasePath(AppContext.BaseDirectory)
            .AddJsonFile("appsettings.json")
            .Build();
}
