using Keybrake.Client.Resend.Tests.Sdk;

namespace Keybrake.Client.Resend.Tests;

public sealed class ConcurrencyTests
{
    private const int Tasks = 48;

    [Test]
    public async Task Concurrent_senders_never_push_settled_spend_past_the_cap([Range(0, 4)] int round)
    {
        // 3 cents per recipient against $1.00: whatever mix of sends and batches wins, the cap holds exactly.
        await using var host = ResendGuardHost.Start(policy => policy.LoopBreaker.MaxRepeats = 0, resend: o => o.PricePerEmail = Usd.FromCents(3));
        var random = new Random(round);
        var sizes = Enumerable.Range(0, Tasks).Select(_ => random.Next(1, 4)).ToArray();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var senders = sizes.Select((size, i) => Task.Run(async () =>
        {
            await gate.Task;
            try
            {
                if (i % 2 == 0)
                {
                    await host.Resend.EmailSendAsync(EmailMessage.To_([.. Enumerable.Range(0, size).Select(r => $"r{r}.s{i}@customer.example")]));
                }
                else
                {
                    await host.Resend.EmailBatchAsync(Enumerable.Range(0, size).Select(r => EmailMessage.To_($"r{r}.s{i}@customer.example")));
                }

                return "sent";
            }
            catch (ResendApiException denied)
            {
                return denied.Decision!;
            }
        })).ToArray();
        gate.SetResult();
        var outcomes = await Task.WhenAll(senders);

        var spend = await host.SpendAsync();
        Assert.Multiple(() =>
        {
            Assert.That(spend.Settled, Is.LessThanOrEqualTo(Usd.FromDollars(1)));
            Assert.That(spend.Settled, Is.EqualTo(Usd.FromCents(3 * host.Stub.RecipientsSent)), "what settled is exactly what Resend sent");
            Assert.That(spend.Reserved, Is.EqualTo(Usd.Zero));
            Assert.That(outcomes.Count(o => o == "sent"), Is.EqualTo(host.Stub.Received.Count));
            Assert.That(outcomes.Where(o => o != "sent"), Is.All.EqualTo(ReasonCodes.DailyCapExceeded));
            Assert.That(outcomes, Does.Contain(ReasonCodes.DailyCapExceeded), "48 sends of 1 to 3 recipients at 3 cents must hit a $1 cap");
        });
    }
}
