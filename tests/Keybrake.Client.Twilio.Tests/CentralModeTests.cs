using Keybrake.Client.TestUtilities;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Client.TestUtilities.Twilio;
using Microsoft.Extensions.DependencyInjection;
using Twilio.Clients;
using Twilio.Exceptions;
using Twilio.Rest.Api.V2010.Account;
using Twilio.Types;

namespace Keybrake.Client.Twilio.Tests;

/// <summary>
/// The guard in central mode against the real budget service in this process: the service holds the cap and the
/// deferred reservation; the process that sent a message settles it by reservation id (other processes by object:
/// DeferredPriceAcrossProcessesTests).
/// </summary>
public sealed class CentralModeTests
{
    [Test]
    public async Task A_message_reserves_at_the_service_and_settles_to_its_price_when_fetched()
    {
        await using var service = await BudgetServiceHost.StartAsync(BudgetServiceHost.Key(TwilioGuardHost.KeyId, "0.05", vendor: "twilio"));
        using var stub = TwilioStub.Start();
        var folder = Directory.CreateTempSubdirectory("keybrake-twilio-central-").FullName;
        try
        {
            await using var provider = TwilioGuardHost.CentralServices(service.Address, stub, folder);
            var twilio = provider.GetRequiredService<TwilioRestClient>();
            var admin = provider.GetRequiredService<IKeybrakeAdmin>();

            // $0.05 at $0.0083 a segment: six messages fit, the seventh is denied by the service.
            var sids = new List<string>();
            string? denial = null;
            for (var i = 0; i < 7 && denial is null; i++)
            {
                try
                {
                    var message = await MessageResource.CreateAsync(
                        new CreateMessageOptions(new PhoneNumber("+14155550199")) { From = new PhoneNumber(TwilioGuardHost.Sender), Body = $"Reminder {i}" },
                        twilio);
                    sids.Add(message.Sid);
                }
                catch (ApiException denied)
                {
                    denial = TwilioErrorCodes.ReasonOf(denied.Message);
                }
            }

            var reserved = await admin.GetDailySpendAsync(TwilioGuardHost.KeyId);
            foreach (var sid in sids)
            {
                await MessageResource.FetchAsync(sid, client: twilio);
            }

            var settled = await Poll.UntilAsync(() => admin.GetDailySpendAsync(TwilioGuardHost.KeyId).AsTask(), spend => spend.Reserved == Usd.Zero);
            Assert.Multiple(() =>
            {
                Assert.That(sids, Has.Count.EqualTo(6));
                Assert.That(denial, Is.EqualTo(ReasonCodes.DailyCapExceeded));
                Assert.That(stub.MessagesSent, Is.EqualTo(6));
                Assert.That(reserved.Reserved, Is.EqualTo(Usd.FromMicros(6 * 8_300)));
                Assert.That(settled.Reserved, Is.EqualTo(Usd.Zero));
                Assert.That(settled.Settled, Is.EqualTo(Usd.FromMicros(6 * 7_500)), "each message settled to Twilio's price of $0.0075");
            });
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
