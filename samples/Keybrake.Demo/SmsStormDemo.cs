using System.Globalization;
using Keybrake.Client.TestUtilities.Twilio;
using Keybrake.Client.Twilio;
using Microsoft.Extensions.DependencyInjection;
using Twilio.Clients;
using Twilio.Exceptions;
using Twilio.Rest.Api.V2010.Account;
using Twilio.Types;

namespace Keybrake.Client.Demo;

/// <summary>
/// The second scenario: an agent asked to text one customer that their order shipped texts the whole customer
/// list, over and over. Its Twilio client carries the guard with a $0.10 daily cap, a +1 destination allowlist
/// and a three-segment limit; the stand-in for Twilio (WireMock.Net serving Twilio's own example messages)
/// counts what got through. Each message is reserved at its estimate and settles to Twilio's price when the
/// agent fetches it.
/// </summary>
internal static class SmsStormDemo
{
    private const string KeyId = "sms-agent";
    private const string BrakeKey = "vault_key_demo_sms_agent_2c6d81fe";
    private const string AccountSid = "AC00000000000000000000000000000000";
    private const string Sender = "+14155550100";

    public static async Task<int> RunAsync(TextWriter output)
    {
        using var twilioStandIn = TwilioStub.Start();
        var services = new ServiceCollection();
        services.AddKeybrake(o => o.AddKey(KeyId, key =>
            {
                key.BrakeKey = BrakeKey;
                key.Vendor = "twilio";
                key.VendorSecret = "demo_auth_token_not_a_real_secret";
                key.Policy.DailyCap = Usd.Parse("0.10");
                key.Policy.AllowTwilioDestinations("+1").LimitTwilioSegments(3);
                key.Policy.LoopBreaker.MaxRepeats = 3;
            }))
            .AddTwilioClient(AccountSid, BrakeKey);
        services.AddHttpClient(KeybrakeTwilioBuilderExtensions.HttpClientName)
            .ConfigurePrimaryHttpMessageHandler(() => new TwilioHostRewriteHandler(twilioStandIn.Url)); // api.twilio.com -> the stand-in
        await using var provider = services.BuildServiceProvider();
        var twilio = provider.GetRequiredService<TwilioRestClient>();

        output.WriteLine();
        output.WriteLine("Keybrake demo: an SMS storm, guarded (embedded ledger, one process)");
        output.WriteLine($"Twilio stand-in: {twilioStandIn.Url} (WireMock.Net serving Twilio's own example messages)");
        output.WriteLine("Key 'sms-agent': daily cap $0.10 (US SMS ~$0.0083 a segment); destinations +1 only; at most 3 segments a message");
        output.WriteLine();

        var sent = new List<string>();
        var denials = new Dictionary<string, int>(StringComparer.Ordinal);
        var number = 0;
        async Task Send(string what, string to, string body)
        {
            number++;
            string verdict;
            try
            {
                var message = await MessageResource.CreateAsync(new CreateMessageOptions(new PhoneNumber(to)) { From = new PhoneNumber(Sender), Body = body }, twilio);
                sent.Add(message.Sid);
                verdict = $"allowed  {message.Status}";
            }
            catch (ApiException denied) when (TwilioErrorCodes.ReasonOf(denied.Message) is { } reason)
            {
                denials[reason] = denials.GetValueOrDefault(reason) + 1;
                verdict = $"DENIED   {reason}";
            }

            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"#{number,-3} {what,-42} {verdict}"));
        }

        // The bug: "text the customer" became "text every customer", and the loop never ends on errors.
        for (var customer = 0; customer < 16; customer++)
        {
            await Send($"text customer {customer + 1:D2} 'your order shipped'", $"+1415555{customer:D4}", $"Hi customer {customer + 1}, your order has shipped!");
        }

        await Send("text a number in the UK", "+447700900123", "Your order has shipped!");
        await Send("text a 4-segment newsletter", "+14155550001", string.Concat(Enumerable.Repeat("Big news from the shop! ", 25)));

        // The agent checks on what it sent: each fetch shows Twilio's price, and the reservation settles to it.
        foreach (var sid in sent)
        {
            await MessageResource.FetchAsync(sid, client: twilio);
        }

        var spend = await provider.GetRequiredService<IKeybrakeAdmin>().GetDailySpendAsync(KeyId);
        output.WriteLine();
        output.WriteLine("Summary");
        output.WriteLine($"  messages allowed: {sent.Count}");
        foreach (var (reason, count) in denials.OrderByDescending(d => d.Value))
        {
            output.WriteLine($"  denied {reason + ":",-26}{count}");
        }

        output.WriteLine($"  USD settled:      {spend.Settled} of the {spend.Cap} daily cap, at Twilio's prices (reserved and unsettled: {spend.Reserved})");
        output.WriteLine($"  Twilio stand-in accepted {twilioStandIn.MessagesSent} messages.");
        var held = spend.Settled + spend.Reserved <= spend.Cap && twilioStandIn.MessagesSent == sent.Count && denials.ContainsKey(ReasonCodes.DailyCapExceeded);
        output.WriteLine(held ? "The storm stopped at the cap: nothing past $0.10 was sent." : "The cap did not hold.");
        return held ? 0 : 1;
    }
}
