using Keybrake.Client.Resend.Tests.Sdk;
using Keybrake.Client.TestUtilities;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Client.TestUtilities.Resend;
using Microsoft.Extensions.DependencyInjection;

namespace Keybrake.Client.Resend.Tests;

public sealed class CentralModeTests
{
    private const string KeyId = "blast-agent";
    private const string BrakeKey = "vault_key_test_central_blast_agent_1";

    [Test]
    public async Task The_budget_service_holds_the_cap_for_email_batches_and_settles_what_Resend_sent()
    {
        // The service's cap is $0.05; at the default USD 0.0009 a recipient that is 55 recipients.
        using var stub = ResendStub.Start();
        await using var service = await BudgetServiceHost.StartAsync(BudgetServiceHost.Key(KeyId, "0.05", vendor: "resend"));
        var folder = Directory.CreateTempSubdirectory("keybrake-resend-central-").FullName;
        var services = new ServiceCollection();
        services.AddKeybrake(o =>
            {
                o.AddKey(KeyId, key =>
                {
                    key.BrakeKey = BrakeKey;
                    key.Vendor = "resend";
                    key.VendorSecret = "re_central_secret";
                    key.VendorEndpoint = stub.Url;
                    key.Policy.LoopBreaker.MaxRepeats = 0;
                });
            })
            .UseBudgetService(o =>
            {
                o.Address = service.Address;
                o.AdminToken = BudgetServiceHost.AdminToken;
                o.ClientToken = BudgetServiceHost.ClientToken;
                o.OutboxPath = Path.Combine(folder, "outbox.db");
            })
            .AddResendSdkGuard();
        services.Configure<ResendSdkOptions>(o => { o.ApiUrl = stub.Url; o.ApiToken = BrakeKey; });
        services.AddHttpClient<IResend, ResendSdkShapedClient>();
        try
        {
            await using var provider = services.BuildServiceProvider();
            var resend = provider.GetRequiredService<IResend>();
            var denials = new List<string>();

            // Batches of 20 emails: two fit (40 recipients, $0.036), the third would make $0.054.
            for (var batch = 0; batch < 4; batch++)
            {
                try
                {
                    await resend.EmailBatchAsync(Enumerable.Range(0, 20).Select(i => EmailMessage.To_($"c{i}.b{batch}@customer.example")));
                }
                catch (ResendApiException denied)
                {
                    denials.Add(denied.Decision!);
                }
            }

            var admin = provider.GetRequiredService<IKeybrakeAdmin>();
            var spend = await Poll.UntilAsync(() => admin.GetDailySpendAsync(KeyId).AsTask(), s => s.Reserved == Usd.Zero);
            Assert.Multiple(() =>
            {
                Assert.That(denials, Is.EqualTo(new[] { ReasonCodes.DailyCapExceeded, ReasonCodes.DailyCapExceeded }));
                Assert.That(stub.EmailsSent, Is.EqualTo(40));
                Assert.That(spend.Settled, Is.EqualTo(Usd.FromMicros(40 * 900)), "the service settled what Resend sent");
                Assert.That(spend.Cap, Is.EqualTo(Usd.FromCents(5)), "the cap is the service's");
            });
        }
        finally
        {
            try
            {
                Directory.Delete(folder, recursive: true);
            }
            catch (IOException)
            {
                // a file still held open: the temp folder is cleaned by the system
            }
        }
    }
}
