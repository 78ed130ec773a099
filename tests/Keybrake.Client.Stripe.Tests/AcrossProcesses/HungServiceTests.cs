using System.Diagnostics;
using Keybrake.Client.TestUtilities;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Client.TestUtilities.Stripe;

namespace Keybrake.Client.Stripe.Tests;

/// <summary>
/// The budget service, as its own process, hangs (frozen with <c>SIGSTOP</c>) for longer than a call's total
/// timeout while two agent processes charge through it, and then runs again (<c>SIGCONT</c>). No agent
/// crashes: every call ends allowed or denied with <c>budget_service_unavailable</c> in Stripe's shape, and the
/// books match what reached Stripe. (The agents used to die of a raw <c>RpcException</c> with
/// <c>Cancelled</c>: three 2 s attempts overran the 5 s total, and a cancellation was not taken for an outage.)
/// </summary>
[NonParallelizable]
public sealed class HungServiceTests
{
    private const int Agents = 2;
    private const int TasksPerAgent = 4;
    private const int ChargesBeforeTheHang = 10;
    private const int ChargesAfterTheHang = 10;

    /// <summary>Two attempts fit in the total only if the first is cut short: the case that used to end raw.</summary>
    private const int CallTimeoutMilliseconds = 2_000;
    private const int TotalTimeoutMilliseconds = 3_000;

    [Test]
    public async Task Agents_charging_while_the_service_hangs_past_the_total_timeout_never_crash_and_the_books_match_Stripe()
    {
        using var stub = StripeStub.Start();
        await using var service = await BudgetServiceProcess.StartAsync(BudgetServiceHost.Key(SharedCapAcrossProcessesTests.KeyId, "1000"));
        var running = new List<AgentProcess>();
        try
        {
            var agents = await AgentProcess.StartTogetherAsync(
                Enumerable.Range(0, Agents).Select(i => (Func<Task<AgentProcess>>)(() => AgentProcess.StartAsync(
                    service.Address, stub.Url, SharedCapAcrossProcessesTests.KeyId, service.Directory, $"hung-agent{i}", seed: i,
                    "--tasks", $"{TasksPerAgent}", "--until-stop", "--pause-ms", "20", "--pause-after-denial-ms", "100",
                    "--call-timeout-ms", $"{CallTimeoutMilliseconds}", "--total-timeout-ms", $"{TotalTimeoutMilliseconds}",
                    "--min-cents", "50", "--max-cents", "60"))),
                running);

            await Poll.UntilAsync(() => Charges(stub), count => count >= ChargesBeforeTheHang);
            await service.StopRespondingAsync();
            var hung = Stopwatch.StartNew();
            int[] deniedWhileHung;
            try
            {
                // Hung past the total timeout, until every agent has denied a call for it: a call is denied
                // only once it has waited out its whole budget (or the breaker opened on such calls).
                deniedWhileHung = await Poll.UntilAsync(
                    () => agents.Select(a => a.WaitingInOutbox(ReasonCodes.BudgetServiceUnavailable)).ToArray(),
                    denied => denied.All(n => n > 0),
                    TimeSpan.FromSeconds(90));
                var longerThanTheTotal = TimeSpan.FromMilliseconds(TotalTimeoutMilliseconds * 2) - hung.Elapsed;
                if (longerThanTheTotal > TimeSpan.Zero)
                {
                    await Task.Delay(longerThanTheTotal);
                }
            }
            finally
            {
                await service.ContinueAsync();
            }

            var chargesAtResume = Charges(stub);
            var chargesAfter = await Poll.UntilAsync(() => Charges(stub), count => count >= chargesAtResume + ChargesAfterTheHang, TimeSpan.FromSeconds(90));
            await Task.WhenAll(agents.Select(a => a.StopAsync()));
            var reports = await Task.WhenAll(agents.Select(a => a.FinishAsync()));

            await using var host = CentralStripeHost.Start(service.Address, stub.Url, SharedCapAcrossProcessesTests.KeyId);
            var spend = await host.Admin.GetDailySpendAsync(SharedCapAcrossProcessesTests.KeyId);
            var unsettled = await host.Admin.ListUnsettledAsync(SharedCapAcrossProcessesTests.KeyId);
            var charged = ChargedKeys(stub);
            Assert.Multiple(() =>
            {
                Assert.That(deniedWhileHung, Is.All.Positive, "every agent denied calls while the service hung");
                Assert.That(chargesAfter, Is.GreaterThanOrEqualTo(chargesAtResume + ChargesAfterTheHang), "charging went on once the service ran again");
                Assert.That(reports.SelectMany(r => r.Errors.Keys), Is.Empty, "no call ended in anything but an allow or a denial");
                Assert.That(reports.SelectMany(r => r.Denied.Keys).Distinct(), Is.EqualTo(new[] { ReasonCodes.BudgetServiceUnavailable }));
                Assert.That(reports.Sum(r => r.Allowed), Is.EqualTo(charged.Count), "every allowed call reached Stripe, and nothing else did");

                // The books: what settled is exactly what reached Stripe; what stays reserved never reached it.
                Assert.That(spend.Settled, Is.EqualTo(Usd.FromCents(stub.SumOfAmounts("/v1/charges"))), "what settled is exactly what reached Stripe");
                Assert.That(reports.Sum(r => r.AllowedCents), Is.EqualTo(stub.SumOfAmounts("/v1/charges")));
                Assert.That(spend.Reserved, Is.EqualTo(Usd.FromMicros(unsettled.Sum(u => u.Estimate.Micros))));
                Assert.That(unsettled.Select(u => u.IdempotencyKey), Has.None.AnyOf(charged.ToArray()), "what stays pending never reached Stripe");
                Assert.That(agents.Select(a => SharedCapAcrossProcessesTests.OutboxRecords(a.OutboxPath)), Is.All.Zero, "every agent shipped its outbox before it exited");
            });
        }
        finally
        {
            // A frozen service would keep its process (and the test run) alive: it was continued above, and is killed on dispose.
            await Task.WhenAll(running.Select(a => a.DisposeAsync().AsTask()));
        }
    }

    private static int Charges(StripeStub stub) =>
        stub.Server.LogEntries.Count(e => e.RequestMessage.Method == "POST" && e.RequestMessage.Path == "/v1/charges");

    private static List<string?> ChargedKeys(StripeStub stub) =>
        [.. stub.Server.LogEntries
            .Where(e => e.RequestMessage.Method == "POST" && e.RequestMessage.Path == "/v1/charges")
            .Select(e => e.RequestMessage.Headers?.FirstOrDefault(h => string.Equals(h.Key, "Idempotency-Key", StringComparison.OrdinalIgnoreCase)).Value?.FirstOrDefault())];
}
