using Keybrake.Client.Central;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Keybrake.Client.Tests;

/// <summary>How central mode is switched on: only by Keybrake.Client.Central's <c>UseBudgetService()</c>, never silently.</summary>
public sealed class CentralRegistrationTests
{
    private const string Token = "kbc_a_token_for_the_registration_test";

    [TestCase("Keybrake:BudgetService:Address", "http://127.0.0.1:7411", "Keybrake:BudgetService:Address")]
    [TestCase("Keybrake:BudgetService:Addresses:0", "https://budget-a.internal:7411", "Keybrake:BudgetService:Addresses")]
    public void A_budget_service_address_without_UseBudgetService_fails_start_up_in_one_line_saying_what_to_add(string setting, string value, string named)
    {
        using var provider = Build(new() { [setting] = value }, central: false);

        var error = Assert.Throws<OptionsValidationException>(() => _ = provider.GetRequiredService<IOptions<KeybrakeOptions>>().Value)!;

        Assert.That(error.Failures, Has.Exactly(1).Items);
        Assert.That(error.Failures.Single(), Does.StartWith(named + " is set, but central mode is not registered")
            .And.Contain("add the Keybrake.Client.Central package and call UseBudgetService()")
            .And.Not.Contain('\n'));
    }

    [Test]
    public void The_same_address_with_UseBudgetService_is_central_mode()
    {
        using var provider = Build(new() { ["Keybrake:BudgetService:Address"] = "http://127.0.0.1:7411" }, central: true);

        Assert.That(() => provider.GetRequiredService<IOptions<KeybrakeOptions>>().Value, Throws.Nothing);
        Assert.Multiple(() =>
        {
            Assert.That(provider.GetRequiredService<IOptions<KeybrakeBudgetServiceOptions>>().Value.Address, Is.EqualTo(new Uri("http://127.0.0.1:7411")));
            Assert.That(provider.GetRequiredService<IBudgetLedger>(), Is.InstanceOf<GrpcBudgetLedger>());
            Assert.That(provider.GetRequiredService<IKeybrakeAdmin>(), Is.InstanceOf<GrpcKeybrakeAdmin>());
            Assert.That(provider.GetRequiredService<KeybrakeDeferredObjects>().IsShared, Is.True);
        });
    }

    [Test]
    public void Without_an_address_the_guard_stays_embedded()
    {
        using var provider = Build([], central: false);

        Assert.Multiple(() =>
        {
            Assert.That(provider.GetRequiredService<IBudgetLedger>(), Is.InstanceOf<EmbeddedBudgetLedger>());
            Assert.That(provider.GetServices<IAuditSink>(), Is.Empty);
            Assert.That(provider.GetRequiredService<KeybrakeDeferredObjects>().IsShared, Is.False);
        });
    }

    [Test]
    public void UseBudgetService_without_an_address_fails_start_up_naming_the_setting()
    {
        var services = new ServiceCollection();
        services.AddKeybrake(o => o.AddKey("agent", OptionsValidationTests.ValidKey)).UseBudgetService(o => o.ClientToken = Token).AddVendor<TestVendorProfile>();
        using var provider = services.BuildServiceProvider();

        var error = Assert.Throws<OptionsValidationException>(() => _ = provider.GetRequiredService<IOptions<KeybrakeBudgetServiceOptions>>().Value)!;

        Assert.That(error.Failures, Is.EqualTo(new[] { "Keybrake:BudgetService:Address: UseBudgetService() needs the service's address: set Address (or Addresses), such as https://budget.internal:7411" }));
    }

    [Test]
    public void Calling_UseBudgetService_twice_registers_central_mode_once_and_keeps_both_configurations()
    {
        var once = new ServiceCollection();
        once.AddKeybrake().UseBudgetService(new Uri("http://127.0.0.1:7411"));
        var twice = new ServiceCollection();
        twice.AddKeybrake().UseBudgetService(new Uri("http://127.0.0.1:7411")).UseBudgetService(o => o.ClientToken = Token);

        // One more registration: the second call's configure delegate, and nothing else.
        Assert.That(twice, Has.Count.EqualTo(once.Count + 1));

        using var provider = twice.BuildServiceProvider();
        var options = provider.GetRequiredService<IOptions<KeybrakeBudgetServiceOptions>>().Value;
        Assert.Multiple(() =>
        {
            Assert.That(options.Address, Is.EqualTo(new Uri("http://127.0.0.1:7411")));
            Assert.That(options.ClientToken, Is.EqualTo(Token));
            Assert.That(provider.GetServices<IAuditSink>().OfType<AuditOutbox>().Count(), Is.EqualTo(1), "one outbox: each record goes to the service once");
            Assert.That(provider.GetServices<IBudgetLedger>().Count(), Is.EqualTo(1));
        });
    }

    private static ServiceProvider Build(Dictionary<string, string?> settings, bool central)
    {
        settings.TryAdd("Keybrake:BudgetService:ClientToken", Token);
        var services = new ServiceCollection().AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(settings).Build());
        var keybrake = services.AddKeybrake(o => o.AddKey("agent", OptionsValidationTests.ValidKey)).AddVendor<TestVendorProfile>();
        if (central)
        {
            keybrake.UseBudgetService();
        }

        return services.BuildServiceProvider();
    }
}
