using Keybrake.BudgetService.Keys;
using Keybrake.Client;
using Microsoft.Extensions.DependencyInjection;

namespace Keybrake.BudgetService.Tests;

/// <summary>The service checks policies against its own table of vendors; the table must say what each vendor package's guard understands.</summary>
public sealed class KnownVendorsTests
{
    [Test]
    public void The_service_knows_each_vendor_s_allowlists_and_limits_as_its_guard_does()
    {
        var services = new ServiceCollection();
        services.AddKeybrake().AddStripe().AddResend();
        using var provider = services.BuildServiceProvider();
        var profiles = provider.GetServices<VendorProfile>().ToDictionary(profile => profile.Vendor);

        Assert.Multiple(() =>
        {
            Assert.That(KnownVendors.All.Keys, Is.EquivalentTo(profiles.Keys));
            foreach (var (vendor, names) in KnownVendors.All)
            {
                Assert.That(names.ScopeNames, Is.EquivalentTo(profiles[vendor].ScopeNames), $"{vendor} allowlists");
                Assert.That(names.LimitNames, Is.EquivalentTo(profiles[vendor].LimitNames), $"{vendor} limits");
            }
        });
    }
}
