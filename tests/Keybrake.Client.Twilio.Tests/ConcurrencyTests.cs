using System.Globalization;
using Twilio.Rest.Api.V2010.Account;

namespace Keybrake.Client.Twilio.Tests;

public sealed class ConcurrencyTests
{
    private const int Agents = 64;

    [Test]
    public async Task Sixty_four_concurrent_senders_never_push_spend_past_the_cap([Range(0, 4)] int round)
    {
        // $0.25 at $0.0083 to $0.0249 a message (one to three segments): some fit, the rest must be denied.
        await using var host = TwilioGuardHost.Start(policy => policy.DailyCap = Usd.FromCents(25));
        host.Stub.PriceMessagesWith(form => $"-{(0.0083m * Segments(form["Body"]!.Length)).ToString("0.0000", CultureInfo.InvariantCulture)}");
        var random = new Random(round);
        var lengths = Enumerable.Range(0, Agents).Select(_ => random.Next(1, 460)).ToArray();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var agents = lengths.Select((length, i) => Task.Run(async () =>
        {
            await gate.Task;
            return await host.TrySendAsync(i.ToString("D3", CultureInfo.InvariantCulture) + new string('x', length));
        })).ToArray();
        gate.SetResult();
        var outcomes = await Task.WhenAll(agents);
        var reserved = await host.Admin.GetDailySpendAsync(TwilioGuardHost.KeyId);

        foreach (var sid in host.Stub.MessageSids)
        {
            await MessageResource.FetchAsync(sid, client: host.Twilio);
        }

        var settled = await host.Admin.GetDailySpendAsync(TwilioGuardHost.KeyId);
        Assert.Multiple(() =>
        {
            Assert.That(reserved.Reserved + reserved.Settled, Is.LessThanOrEqualTo(Usd.FromCents(25)));
            Assert.That(settled.Settled, Is.LessThanOrEqualTo(Usd.FromCents(25)));
            Assert.That(settled.Settled, Is.EqualTo(Usd.FromMicros(host.Stub.SumOfPricesMicroUsd())), "what settled is exactly what Twilio billed");
            Assert.That(settled.Reserved, Is.EqualTo(Usd.Zero));
            Assert.That(outcomes.Count(o => o is null), Is.EqualTo(host.Stub.MessagesSent));
            Assert.That(outcomes.Where(o => o is not null), Is.All.EqualTo(ReasonCodes.DailyCapExceeded));
            Assert.That(outcomes, Does.Contain(ReasonCodes.DailyCapExceeded));
        });
    }

    /// <summary>What Twilio bills an ASCII body as: one segment up to 160 characters, else parts of 153.</summary>
    private static int Segments(int length) => length <= 160 ? 1 : (length + 152) / 153;
}
