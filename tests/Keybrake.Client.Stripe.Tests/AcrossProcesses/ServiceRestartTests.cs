using System.Text.Json;
using Keybrake.Client.TestUtilities;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Client.TestUtilities.Stripe;
using static Keybrake.Client.Stripe.Tests.SharedCapAcrossProcessesTests;

namespace Keybrake.Client.Stripe.Tests;

/// <summary>
/// The budget service, as its own process, is killed in the middle of a four-agent run and started again on the
/// same port and data: nothing reaches Stripe without a reservation the live service made, the cap holds after
/// the restart, and every call's audit record reaches the service once.
/// </summary>
[NonParallelizable]
public sealed class ServiceRestartTests
{
    private const int Agents = 4;
    private const int TasksPerAgent = 16;
    private const int ChargesBeforeTheKill = 10;

    [Test]
    public async Task A_service_killed_mid_run_lets_nothing_through_while_down_and_nothing_is_overspent_lost_or_doubled_after_its_restart()
    {
        using var stub = StripeStub.Start();
        await using var service = await BudgetServiceProcess.StartAsync(BudgetServiceHost.Key(KeyId, "100"));
        var running = new List<AgentProcess>();
        try
        {
            // 50 to 60 cents a charge: about 180 charges to the cap, so the kill lands early in the run.
            var agents = await AgentProcess.StartTogetherAsync(
                Enumerable.Range(0, Agents).Select(i => (Func<Task<AgentProcess>>)(() => AgentProcess.StartAsync(
                    service.Address, stub.Url, KeyId, service.Directory, $"restart-agent{i}", seed: i,
                    "--tasks", $"{TasksPerAgent}", "--charges", "until-denied", "--stop-on", ReasonCodes.DailyCapExceeded,
                    "--pause-after-denial-ms", "200", "--min-cents", "50", "--max-cents", "60"))),
                running);

            var chargesBeforeKill = await Poll.UntilAsync(() => Charges(stub).Count, count => count >= ChargesBeforeTheKill);
            await service.KillAsync();
            var killedAt = DateTime.UtcNow;
            var reservedBeforeKill = BudgetStoreFile.ReadReservations(service.StoragePath).Select(r => r.IdempotencyKey).ToHashSet(StringComparer.Ordinal);
            var restartStartedAt = DateTime.UtcNow;
            await service.RestartAsync();
            var backAt = DateTime.UtcNow;
            var reports = await Task.WhenAll(agents.Select(a => a.FinishAsync()));

            await using var host = CentralStripeHost.Start(service.Address, stub.Url, KeyId);
            var spend = await host.Admin.GetDailySpendAsync(KeyId);
            var unsettled = await host.Admin.ListUnsettledAsync(KeyId);
            var reservations = BudgetStoreFile.ReadReservations(service.StoragePath).ToDictionary(r => r.IdempotencyKey, StringComparer.Ordinal);
            var charges = Charges(stub);
            var calls = reports.Sum(r => r.WarmUps + r.Calls);
            var audit = await Poll.UntilAsync(() => BudgetStoreFile.ReadAudit(service.StoragePath), records => records.Count >= calls);
            var allowedReservations = audit.Where(r => r.Decision == "allow" && r.RunId is not null).Select(ReservationOf).ToList();
            Assert.Multiple(() =>
            {
                Assert.That(chargesBeforeKill, Is.GreaterThanOrEqualTo(ChargesBeforeTheKill), "the run was under way when the service was killed");
                Assert.That(reports.SelectMany(r => r.Denied.Keys).Distinct(), Is.SubsetOf(new[] { ReasonCodes.BudgetServiceUnavailable, ReasonCodes.DailyCapExceeded }));
                Assert.That(reports.Sum(r => r.DeniedFor(ReasonCodes.BudgetServiceUnavailable)), Is.Positive, "calls were made, and denied, while the service was down");
                Assert.That(reports.Sum(r => r.DeniedFor(ReasonCodes.DailyCapExceeded)), Is.EqualTo(Agents * TasksPerAgent), "after the restart every task ran on to the cap");
                Assert.That(reports.SelectMany(r => r.Errors.Keys), Is.Empty);

                // Nothing reached Stripe without a reservation the live service made and committed.
                Assert.That(charges.Select(c => c.IdempotencyKey), Is.All.Matches<string?>(key => key is not null && reservations.TryGetValue(key, out var r) && r.State == "committed"));
                Assert.That(
                    charges.Where(c => c.ReceivedAt > killedAt && c.ReceivedAt < backAt).Select(c => c.IdempotencyKey),
                    Is.All.Matches<string?>(key => key is not null
                        && (reservedBeforeKill.Contains(key) || (reservations.TryGetValue(key, out var r) && r.CreatedAt.UtcDateTime >= restartStartedAt))),
                    "while the service was down, Stripe saw only calls the service authorized before the kill (still in flight)");
                Assert.That(allowedReservations, Is.All.Matches<string?>(id => id is not null && reservations.Values.Any(r => r.ReservationId == id)), "no call was allowed on anything but a service reservation");

                // No overspend after the restart; reservations whose answer died with the service stay counted.
                Assert.That(spend.Committed, Is.LessThanOrEqualTo(Usd.FromDollars(100)));
                Assert.That(spend.Settled, Is.EqualTo(Usd.FromCents(stub.SumOfAmounts("/v1/charges"))), "what settled is exactly what reached Stripe");
                Assert.That(reports.Sum(r => r.Allowed), Is.EqualTo(charges.Count));
                Assert.That(spend.Reserved, Is.EqualTo(Usd.FromMicros(unsettled.Sum(u => u.Estimate.Micros))));
                Assert.That(unsettled.Select(u => u.IdempotencyKey), Has.None.AnyOf(charges.Select(c => c.IdempotencyKey).ToArray()), "what stays pending never reached Stripe");

                // Every call's audit record reached the service, once.
                Assert.That(audit.Select(r => r.RecordId).Distinct().Count(), Is.EqualTo(audit.Count));
                Assert.That(audit, Has.Count.EqualTo(calls), "one audit record per call: none lost, none twice");
                Assert.That(audit.Count(r => r.Reason == ReasonCodes.BudgetServiceUnavailable), Is.EqualTo(reports.Sum(r => r.DeniedFor(ReasonCodes.BudgetServiceUnavailable))));
                Assert.That(audit.Count(r => r.Decision == "allow" && r.RunId is not null), Is.EqualTo(reports.Sum(r => r.Allowed)));
                Assert.That(agents.Select(a => OutboxRecords(a.OutboxPath)), Is.All.Zero, "every agent shipped its outbox before it exited");
            });
        }
        finally
        {
            await Task.WhenAll(running.Select(a => a.DisposeAsync().AsTask()));
        }
    }

    /// <summary>The charges the Stripe stand-in received, with their idempotency keys and when they arrived (UTC).</summary>
    private static List<(string? IdempotencyKey, DateTime ReceivedAt)> Charges(StripeStub stub) =>
        stub.Server.LogEntries
            .Where(e => e.RequestMessage.Method == "POST" && e.RequestMessage.Path == "/v1/charges")
            .Select(e => (
                e.RequestMessage.Headers?.FirstOrDefault(h => string.Equals(h.Key, "Idempotency-Key", StringComparison.OrdinalIgnoreCase)).Value?.FirstOrDefault(),
                e.RequestMessage.DateTime))
            .ToList();

    private static string? ReservationOf(StoredAudit record)
    {
        using var json = JsonDocument.Parse(record.Json);
        return json.RootElement.TryGetProperty("reservationId", out var id) ? id.GetString() : null;
    }
}
