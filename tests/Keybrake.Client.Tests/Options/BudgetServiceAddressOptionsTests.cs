using Keybrake.Client.Central;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Keybrake.Client.Tests;

/// <summary>The service's address or list of replicas, as configuration writes them, checked at start-up.</summary>
public sealed class BudgetServiceAddressOptionsTests
{
    [Test]
    public void A_list_of_replicas_binds_from_configuration_and_switches_to_central_mode()
    {
        using var provider = Build(new()
        {
            ["Keybrake:BudgetService:Addresses:0"] = "https://budget-a.internal:7411",
            ["Keybrake:BudgetService:Addresses:1"] = "https://10.0.0.12:7411",
            ["Keybrake:BudgetService:TlsHostName"] = "budget.internal",
        });

        var options = provider.GetRequiredService<IOptions<KeybrakeBudgetServiceOptions>>().Value;

        Assert.Multiple(() =>
        {
            Assert.That(options.Addresses, Is.EqualTo(new[] { new Uri("https://budget-a.internal:7411"), new Uri("https://10.0.0.12:7411") }));
            Assert.That(options.TlsHostName, Is.EqualTo("budget.internal"));
            Assert.That(options.IsCentral, Is.True);
            Assert.That(new BudgetServiceAddresses(options).IsReplicated, Is.True);
        });
    }

    [Test]
    public void One_address_stays_the_single_channel_it_always_was()
    {
        using var provider = Build(new() { ["Keybrake:BudgetService:Address"] = "http://127.0.0.1:7411" });

        var addresses = new BudgetServiceAddresses(provider.GetRequiredService<IOptions<KeybrakeBudgetServiceOptions>>().Value);

        Assert.Multiple(() =>
        {
            Assert.That(addresses.Target, Is.EqualTo(new Uri("http://127.0.0.1:7411")));
            Assert.That(addresses.IsReplicated, Is.False);
        });
    }

    [Test]
    public void A_dns_name_is_resolved_into_replicas()
    {
        using var provider = Build(new() { ["Keybrake:BudgetService:Address"] = "dns:///budget.internal:7411" });

        var addresses = new BudgetServiceAddresses(provider.GetRequiredService<IOptions<KeybrakeBudgetServiceOptions>>().Value);

        Assert.Multiple(() =>
        {
            Assert.That(addresses.Target, Is.EqualTo(new Uri("dns:///budget.internal:7411")));
            Assert.That(addresses.IsReplicated, Is.True);
        });
    }

    [TestCase("Address", "https://a.internal:7411", "Addresses:0", "https://b.internal:7411", "Keybrake:BudgetService: set Address or Addresses, not both")]
    [TestCase("Addresses:0", "https://a.internal:7411", "Addresses:1", "http://b.internal:7411", "Keybrake:BudgetService:Addresses mixes http:// and https:// entries")]
    [TestCase("Addresses:0", "https://a.internal:7411", "Addresses:1", "ftp://b.internal:7411", "Keybrake:BudgetService:Addresses:1: 'ftp://b.internal:7411' is not an http:// or https:// address")]
    [TestCase("Addresses:0", "https://a.internal:7411", "Addresses:1", "b.internal:7411", "Keybrake:BudgetService:Addresses:1: 'b.internal:7411' is not an http:// or https:// address")]
    [TestCase("Addresses:0", "https://a.internal:7411", "Addresses:1", "https://A.internal:7411", "Keybrake:BudgetService:Addresses:1: 'https://A.internal:7411' is listed twice")]
    [TestCase("Addresses:0", "https://a.internal:7411", "Addresses:1", "https://b.internal:7411/budget", "Keybrake:BudgetService:Addresses:1: 'https://b.internal:7411/budget' has a path")]
    [TestCase("Addresses:0", "http://a.internal:7411", "TlsHostName", "budget.internal", "Keybrake:BudgetService:TlsHostName is set but the service is reached without TLS")]
    [TestCase("Addresses:0", "https://a.internal:7411", "TlsHostName", "not a host", "Keybrake:BudgetService:TlsHostName: 'not a host' is not a host name")]
    [TestCase("Address", "dns:///", "TlsHostName", "budget.internal", "Keybrake:BudgetService:Address: 'dns:///' names no host")]
    [TestCase("Address", "grpc://a.internal:7411", "TlsHostName", "budget.internal", "Keybrake:BudgetService:Address: 'grpc://a.internal:7411' is not an http://, https:// or dns:/// address")]
    public void A_bad_address_setting_fails_at_start_up_with_one_line_naming_it(string firstName, string first, string secondName, string second, string expected)
    {
        using var provider = Build(new()
        {
            [$"Keybrake:BudgetService:{firstName}"] = first,
            [$"Keybrake:BudgetService:{secondName}"] = second,
            ["Keybrake:BudgetService:ClientToken"] = "kbc_a_token_for_the_test",
        });

        var error = Assert.Throws<OptionsValidationException>(() => _ = provider.GetRequiredService<IOptions<KeybrakeBudgetServiceOptions>>().Value)!;

        Assert.That(error.Failures, Has.One.StartsWith(expected));
        Assert.That(error.Failures.Where(f => f.StartsWith("Keybrake:BudgetService", StringComparison.Ordinal)), Has.All.Not.Contains('\n'));
    }

    [Test]
    public void An_empty_entry_in_the_list_fails_at_start_up()
    {
        var services = new ServiceCollection();
        services.AddKeybrake(o => o.AddKey("agent", OptionsValidationTests.ValidKey))
            .UseBudgetService(o =>
            {
                o.ClientToken = "kbc_a_token_for_the_test";
                o.Addresses.Add(new Uri("https://a.internal:7411"));
                o.Addresses.Add(new Uri(" ", UriKind.RelativeOrAbsolute));
            })
            .AddVendor<TestVendorProfile>();
        using var provider = services.BuildServiceProvider();

        var error = Assert.Throws<OptionsValidationException>(() => _ = provider.GetRequiredService<IOptions<KeybrakeBudgetServiceOptions>>().Value)!;

        Assert.That(error.Failures, Has.One.EqualTo("Keybrake:BudgetService:Addresses:1 is empty"));
    }

    [TestCase("Address", true, false)]
    [TestCase("Addresses:0", false, true)]
    public void A_replica_that_fails_a_call_is_passed_over_only_when_there_are_others(string setting, bool oneAddress, bool passedOver)
    {
        using var provider = Build(new() { [$"Keybrake:BudgetService:{setting}"] = "http://127.0.0.1:7411" });
        var health = provider.GetRequiredService<ReplicaHealth>();

        health.Failed("127.0.0.1", 7411, "a test");

        Assert.Multiple(() =>
        {
            Assert.That(new BudgetServiceAddresses(provider.GetRequiredService<IOptions<KeybrakeBudgetServiceOptions>>().Value).IsReplicated, Is.EqualTo(!oneAddress));
            Assert.That(health.IsResting("127.0.0.1", 7411), Is.EqualTo(passedOver), "with one address there is nowhere else to go: nothing is noted or logged");
        });
    }

    private static ServiceProvider Build(Dictionary<string, string?> settings)
    {
        settings.TryAdd("Keybrake:BudgetService:ClientToken", "kbc_a_token_for_the_test");
        var services = new ServiceCollection().AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(settings).Build());
        services.AddKeybrake(o => o.AddKey("agent", OptionsValidationTests.ValidKey)).UseBudgetService().AddVendor<TestVendorProfile>();
        return services.BuildServiceProvider();
    }
}
