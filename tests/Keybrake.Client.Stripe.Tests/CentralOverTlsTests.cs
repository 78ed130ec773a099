using Keybrake.Client.Central;
using Keybrake.Client.TestUtilities;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Client.TestUtilities.Stripe;
using Keybrake.Client.TestUtilities.Tls;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Keybrake.Client.Stripe.Tests;

/// <summary>Central mode against a service that listens with TLS, its certificate signed by a private CA the test makes.</summary>
public sealed class CentralOverTlsTests
{
    private const string KeyId = "tls-agent";

    [Test]
    public async Task A_guarded_charge_goes_through_a_TLS_service_whose_certificate_chains_to_the_configured_private_CA()
    {
        using var certificates = TestCertificates.Create();
        using var stub = StripeStub.Start();
        await using var service = await BudgetServiceHost.StartAsync(TestServiceSettings(certificates));
        await using var host = CentralStripeHost.Start(service.Address, stub.Url, KeyId, certificates.CaPath);

        var denial = await host.ChargeAsync(1250);
        var spend = await Poll.UntilAsync(async () => await host.Admin.GetDailySpendAsync(KeyId), s => s.Reserved == Usd.Zero);

        Assert.Multiple(() =>
        {
            Assert.That(service.Address.Scheme, Is.EqualTo("https"));
            Assert.That(denial, Is.Null, "the charge went through");
            Assert.That(spend.Settled, Is.EqualTo(Usd.FromMicros(12_500_000)), "the service, over TLS, counted it");
            Assert.That(stub.Received.Count(r => r is { Method: "POST", Path: "/v1/charges" }), Is.EqualTo(1));
        });
    }

    [Test]
    public async Task A_guard_that_does_not_trust_the_certificate_fails_closed_and_forwards_nothing()
    {
        using var certificates = TestCertificates.Create();
        using var otherCa = TestCertificates.Create("Another CA");
        using var stub = StripeStub.Start();
        await using var service = await BudgetServiceHost.StartAsync(TestServiceSettings(certificates));
        await using var systemRoots = CentralStripeHost.Start(service.Address, stub.Url, KeyId);
        await using var wrongCa = CentralStripeHost.Start(service.Address, stub.Url, KeyId, otherCa.CaPath);

        var bySystemRoots = await systemRoots.ChargeAsync(1250);
        var byWrongCa = await wrongCa.ChargeAsync(1250);

        Assert.Multiple(() =>
        {
            Assert.That(bySystemRoots, Is.EqualTo(ReasonCodes.BudgetServiceUnavailable));
            Assert.That(byWrongCa, Is.EqualTo(ReasonCodes.BudgetServiceUnavailable));
            Assert.That(stub.Received.Where(r => r.Path == "/v1/charges"), Is.Empty, "nothing reached the vendor");
        });
    }

    [Test]
    public async Task A_CA_file_that_holds_no_certificate_fails_start_up_naming_the_setting()
    {
        var folder = Directory.CreateTempSubdirectory("keybrake-bad-ca-").FullName;
        try
        {
            var path = Path.Combine(folder, "ca.pem");
            await File.WriteAllTextAsync(path, "not a certificate");
            var services = new ServiceCollection();
            services.AddKeybrake().UseBudgetService(o =>
            {
                o.Address = new Uri("https://127.0.0.1:1");
                o.CaCertificatePath = path;
            });
            await using var provider = services.BuildServiceProvider();

            var failure = Assert.Throws<OptionsValidationException>(() => _ = provider.GetRequiredService<IOptions<KeybrakeBudgetServiceOptions>>().Value);

            Assert.That(failure!.Message, Does.Contain("Keybrake:BudgetService:CaCertificatePath").And.Contain(path));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static Dictionary<string, string?> TestServiceSettings(TestCertificates certificates)
    {
        var settings = BudgetServiceHost.Key(KeyId, "100");
        foreach (var (name, value) in certificates.ServiceSettings())
        {
            settings[name] = value;
        }

        return settings;
    }
}
