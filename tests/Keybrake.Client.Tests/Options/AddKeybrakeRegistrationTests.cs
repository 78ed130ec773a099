using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Keybrake.Client.Tests;

public sealed class AddKeybrakeRegistrationTests
{
    [Test]
    public void AddKeybrake_twice_registers_the_core_once_and_applies_both_configure_delegates()
    {
        var services = new ServiceCollection();
        services.AddKeybrake(o => o.AddKey("first", key => { OptionsValidationTests.ValidKey(key); key.BrakeKey = "vault_key_first_00000000000000001"; }));
        services.AddKeybrake(o => o.AddKey("second", key => { OptionsValidationTests.ValidKey(key); key.BrakeKey = "vault_key_second_0000000000000002"; }))
            .AddVendor<TestVendorProfile>()
            .AddVendor<TestVendorProfile>();
        using var provider = services.BuildServiceProvider();

        var options = provider.GetRequiredService<IOptions<KeybrakeOptions>>().Value;

        Assert.Multiple(() =>
        {
            Assert.That(services.Count(d => d.ServiceType == typeof(GuardPipeline)), Is.EqualTo(1));
            Assert.That(services.Count(d => d.ServiceType == typeof(EmbeddedBudgetLedger)), Is.EqualTo(1));
            Assert.That(services.Count(d => d.ImplementationType == typeof(KeybrakeKeysValidator)), Is.EqualTo(1));
            Assert.That(services.Count(d => d.ImplementationType == typeof(BindKeybrakeConfiguration)), Is.EqualTo(1));
            Assert.That(provider.GetServices<VendorProfile>().Count(), Is.EqualTo(1));
            Assert.That(options.Keys.Keys, Is.EquivalentTo(new[] { "first", "second" }));
        });
    }

    [Test]
    public void The_ledger_and_the_admin_are_one_embedded_ledger()
    {
        var services = new ServiceCollection();
        services.AddKeybrake(o => o.AddKey("agent", OptionsValidationTests.ValidKey)).AddVendor<TestVendorProfile>();
        using var provider = services.BuildServiceProvider();

        var ledger = provider.GetRequiredService<IBudgetLedger>();
        var admin = provider.GetRequiredService<IKeybrakeAdmin>();

        Assert.Multiple(() =>
        {
            Assert.That(ledger, Is.TypeOf<EmbeddedBudgetLedger>());
            Assert.That(admin, Is.SameAs(ledger));
        });
    }

    [Test]
    public async Task A_guard_for_a_vendor_without_a_profile_fails_when_the_client_is_built_naming_the_vendor()
    {
        var services = new ServiceCollection();
        services.AddKeybrake(o => o.AddKey("agent", OptionsValidationTests.ValidKey)).AddVendor<TestVendorProfile>();
        services.AddHttpClient("unguardable").AddKeybrakeGuard("nosuchvendor");
        await using var provider = services.BuildServiceProvider();

        var error = Assert.Throws<InvalidOperationException>(() => provider.GetRequiredService<IHttpClientFactory>().CreateClient("unguardable"));

        Assert.That(error!.Message, Does.Contain("No Keybrake vendor profile is registered for 'nosuchvendor'"));
    }
}
