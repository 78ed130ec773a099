using Grpc.Net.Client;
using Keybrake.Client.TestUtilities;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Client.TestUtilities.Stripe;
using Keybrake.Protocol;
using static Keybrake.Client.Stripe.Tests.SharedCapAcrossProcessesTests;

namespace Keybrake.Client.Stripe.Tests;

/// <summary>
/// Budget leases across real processes: agent processes decide their charges on slices of the key's budget the service
/// leased them, and the cap still holds exactly. Eight agents spend the whole cap and never more; a service killed and
/// restarted with leases outstanding neither overspends nor doubles a lease.
/// </summary>
[NonParallelizable]
public sealed class LeasesAcrossProcessesTests
{
    private const int TasksPerAgent = 16;

    [Test]
    public async Task Eight_agent_processes_on_leases_spend_at_least_99_dollars_of_a_100_dollar_cap_and_never_more()
    {
        const int Agents = 8;
        using var stub = StripeStub.Start();
        await using var service = await BudgetServiceHost.StartAsync(LeasingKey("100"));
        await using var host = CentralStripeHost.Start(service.Address, stub.Url, KeyId);
        var running = new List<AgentProcess>();
        try
        {
            // 50 cents to $1 a charge: when the last task is denied, less than $1 of the cap can be left.
            var agents = await AgentProcess.StartTogetherAsync(
                Enumerable.Range(0, Agents).Select(i => (Func<Task<AgentProcess>>)(() => AgentProcess.StartAsync(
                    service.Address, stub.Url, KeyId, service.Directory, $"lease-agent{i}", seed: i,
                    "--tasks", $"{TasksPerAgent}", "--charges", "until-denied", "--min-cents", "50", "--max-cents", "100"))),
                running);
            var reports = await Task.WhenAll(agents.Select(a => a.FinishAsync()));

            var spend = await host.Admin.GetDailySpendAsync(KeyId);
            var leases = await ListLeasesAsync(service.Address);
            var calls = reports.Sum(r => r.WarmUps + r.Calls);
            var audit = await Poll.UntilAsync(() => BudgetStoreFile.ReadAudit(service.StoragePath), records => records.Count >= calls);
            var reservations = BudgetStoreFile.ReadReservations(service.StoragePath).ToDictionary(r => r.IdempotencyKey, StringComparer.Ordinal);
            var charges = stub.Server.LogEntries.Where(e => e.RequestMessage is { Method: "POST", Path: "/v1/charges" }).ToList();
            TestContext.Out.WriteLine($"settled {spend.Settled}, {charges.Count} charges, {leases.Leases.Count} leases: {string.Join("; ", leases.Leases.Select(l => $"{l.RunId} {l.State} granted {l.GrantedMicroUsd} used {l.UsedMicroUsd}"))}");
            Assert.Multiple(() =>
            {
                Assert.That(stub.SumOfAmounts("/v1/charges"), Is.LessThanOrEqualTo(100_00), "the Stripe stand-in received at most $100");
                Assert.That(spend.Settled, Is.GreaterThanOrEqualTo(Usd.FromCents(99_00)), "at least $99 of the cap was spent before the last denial: nothing was stranded in idle leases");
                Assert.That(spend.Settled, Is.EqualTo(Usd.FromCents(stub.SumOfAmounts("/v1/charges"))), "what settled is exactly what reached Stripe");
                Assert.That(spend.Reserved, Is.EqualTo(Usd.Zero), "every leased call was reported and settled, and every lease given back");
                Assert.That(reports.Sum(r => r.Allowed), Is.EqualTo(charges.Count));
                Assert.That(reports.Sum(r => r.AllowedCents), Is.EqualTo(stub.SumOfAmounts("/v1/charges")));
                Assert.That(reports.SelectMany(r => r.Denied.Keys).Distinct(), Is.EqualTo(new[] { ReasonCodes.DailyCapExceeded }));
                Assert.That(reports.Sum(r => r.DeniedFor(ReasonCodes.DailyCapExceeded)), Is.EqualTo(Agents * TasksPerAgent), "every task ran until the cap stopped it");
                Assert.That(reports.SelectMany(r => r.Errors.Keys), Is.Empty);

                // The calls were decided on leases, and the books agree with them.
                Assert.That(leases.Leases.Select(l => l.RunId).Distinct().Count(), Is.EqualTo(Agents), "every agent leased a slice of its run");
                Assert.That(leases.Leases.Select(l => l.State), Has.None.EqualTo("active"), "every lease was given back when its agent stopped");
                Assert.That(leases.OutstandingMicroUsd, Is.Zero);
                Assert.That(leases.Leases, Has.All.Matches<LeaseInfo>(l => l.UsedMicroUsd <= l.GrantedMicroUsd), "no lease was used past what it was granted");
                Assert.That(audit.Count(r => r.Json.Contains("decided on lease", StringComparison.Ordinal)), Is.Positive, "charges were decided on the leases, and their audit records say so");
                Assert.That(
                    charges.Select(c => c.RequestMessage.Headers?.FirstOrDefault(h => string.Equals(h.Key, "Idempotency-Key", StringComparison.OrdinalIgnoreCase)).Value?.FirstOrDefault()),
                    Is.All.Matches<string?>(key => key is not null && reservations.TryGetValue(key, out var r) && r.State == "committed"),
                    "every charge that reached Stripe has its committed reservation at the service");

                // One audit record per call, none lost, none twice.
                Assert.That(audit.Select(r => r.RecordId).Distinct().Count(), Is.EqualTo(audit.Count));
                Assert.That(audit, Has.Count.EqualTo(calls));
                foreach (var report in reports)
                {
                    Assert.That(audit.Count(r => r.RunId == report.RunId && r.Decision == "allow"), Is.EqualTo(report.Allowed), report.RunId);
                    Assert.That(audit.Count(r => r.RunId == report.RunId && r.Decision == "deny"), Is.EqualTo(report.Calls - report.Allowed), report.RunId);
                }

                Assert.That(agents.Select(a => OutboxRecords(a.OutboxPath)), Is.All.Zero, "every agent shipped its outbox before it exited");
            });
        }
        finally
        {
            await Task.WhenAll(running.Select(a => a.DisposeAsync().AsTask()));
        }
    }

    [Test]
    public async Task A_service_killed_and_restarted_with_leases_outstanding_neither_overspends_nor_doubles_a_lease()
    {
        const int Agents = 4;
        using var stub = StripeStub.Start();
        await using var service = await BudgetServiceProcess.StartAsync(LeasingKey("100"));
        var running = new List<AgentProcess>();
        try
        {
            var agents = await AgentProcess.StartTogetherAsync(
                Enumerable.Range(0, Agents).Select(i => (Func<Task<AgentProcess>>)(() => AgentProcess.StartAsync(
                    service.Address, stub.Url, KeyId, service.Directory, $"lease-restart-agent{i}", seed: i,
                    "--tasks", $"{TasksPerAgent}", "--charges", "until-denied", "--stop-on", ReasonCodes.DailyCapExceeded,
                    "--pause-after-denial-ms", "200", "--min-cents", "50", "--max-cents", "60"))),
                running);

            // Leases are out once charges decided on them reach Stripe.
            await Poll.UntilAsync(() => stub.Received.Count(r => r is { Method: "POST", Path: "/v1/charges" }), count => count >= 20);
            await service.KillAsync();
            var chargesWhileDown = stub.Received.Count(r => r is { Method: "POST", Path: "/v1/charges" });
            await service.RestartAsync();
            var reports = await Task.WhenAll(agents.Select(a => a.FinishAsync()));

            await using var host = CentralStripeHost.Start(service.Address, stub.Url, KeyId);
            var spend = await host.Admin.GetDailySpendAsync(KeyId);
            var unsettled = await host.Admin.ListUnsettledAsync(KeyId);
            var leases = await ListLeasesAsync(service.Address);
            var reservations = BudgetStoreFile.ReadReservations(service.StoragePath);
            var byIdempotencyKey = reservations.ToDictionary(r => r.IdempotencyKey, StringComparer.Ordinal);
            var charges = stub.Server.LogEntries.Where(e => e.RequestMessage is { Method: "POST", Path: "/v1/charges" }).ToList();
            var calls = reports.Sum(r => r.WarmUps + r.Calls);
            var audit = await Poll.UntilAsync(() => BudgetStoreFile.ReadAudit(service.StoragePath), records => records.Count >= calls);
            TestContext.Out.WriteLine($"{chargesWhileDown} charges at the kill, {charges.Count} in all; leases: {string.Join("; ", leases.Leases.Select(l => $"{l.LeaseId} {l.State} granted {l.GrantedMicroUsd} used {l.UsedMicroUsd}"))}");
            Assert.Multiple(() =>
            {
                Assert.That(reports.SelectMany(r => r.Denied.Keys).Distinct(), Is.SubsetOf(new[] { ReasonCodes.BudgetServiceUnavailable, ReasonCodes.DailyCapExceeded }));
                Assert.That(reports.Sum(r => r.DeniedFor(ReasonCodes.DailyCapExceeded)), Is.EqualTo(Agents * TasksPerAgent), "after the restart every task ran on to the cap");
                Assert.That(reports.SelectMany(r => r.Errors.Keys), Is.Empty);

                // No overspend: what reached Stripe is what the service counts, within the cap.
                Assert.That(stub.SumOfAmounts("/v1/charges"), Is.LessThanOrEqualTo(100_00), "the Stripe stand-in received at most $100");
                Assert.That(spend.Committed, Is.LessThanOrEqualTo(Usd.FromDollars(100)));
                Assert.That(spend.Settled, Is.EqualTo(Usd.FromCents(stub.SumOfAmounts("/v1/charges"))), "what settled is exactly what reached Stripe");
                Assert.That(spend.Reserved, Is.EqualTo(Usd.FromMicros(unsettled.Sum(u => u.Estimate.Micros))), "no lease still counts once its agents stopped");
                Assert.That(
                    charges.Select(c => c.RequestMessage.Headers?.FirstOrDefault(h => string.Equals(h.Key, "Idempotency-Key", StringComparison.OrdinalIgnoreCase)).Value?.FirstOrDefault()),
                    Is.All.Matches<string?>(key => key is not null && byIdempotencyKey.TryGetValue(key, out var r) && r.State == "committed"),
                    "every charge, decided on a lease or not, has its committed reservation at the service");

                // Leases honoured or expired, never doubled.
                Assert.That(leases.Leases, Is.Not.Empty);
                Assert.That(leases.Leases.Select(l => l.State), Has.None.EqualTo("active"));
                Assert.That(leases.Leases, Has.All.Matches<LeaseInfo>(l => l.UsedMicroUsd <= l.GrantedMicroUsd), "no lease was used past what it was granted");
                Assert.That(leases.Leases.Select(l => l.LeaseId).Distinct().Count(), Is.EqualTo(leases.Leases.Count));
                Assert.That(reservations.Select(r => r.ReservationId).Distinct().Count(), Is.EqualTo(reservations.Count), "no leased call was recorded twice");

                Assert.That(audit.Select(r => r.RecordId).Distinct().Count(), Is.EqualTo(audit.Count));
                Assert.That(audit, Has.Count.EqualTo(calls), "one audit record per call: none lost, none twice");
                Assert.That(agents.Select(a => OutboxRecords(a.OutboxPath)), Is.All.Zero, "every agent shipped its outbox before it exited");
            });
        }
        finally
        {
            await Task.WhenAll(running.Select(a => a.DisposeAsync().AsTask()));
        }
    }

    [Test]
    public async Task The_slice_of_a_process_killed_while_holding_a_lease_is_stranded_until_its_TTL_and_then_spent_by_the_others()
    {
        using var stub = StripeStub.Start();
        var settings = LeasingKey("20");
        settings[$"BudgetService:Keys:{KeyId}:Policy:Lease:MaxSlice"] = "5";
        settings[$"BudgetService:Keys:{KeyId}:Policy:Lease:Ttl"] = "00:00:30";
        await using var service = await BudgetServiceHost.StartAsync(settings);
        await using var host = CentralStripeHost.Start(service.Address, stub.Url, KeyId);
        var running = new List<AgentProcess>();
        try
        {
            // The holder charges 50 cents on a $5 lease, then pauses (its lease is not idle long enough to be given back).
            var holder = (await AgentProcess.StartTogetherAsync(
                [() => AgentProcess.StartAsync(service.Address, stub.Url, KeyId, service.Directory, "holder", seed: 1,
                    "--tasks", "1", "--until-stop", "--pause-ms", "600000", "--min-cents", "50", "--max-cents", "50")],
                running)).Single();

            // Killed once the service has its one leased call and that call's settlement: nothing it decided or spent is
            // unknown to the service. The leased call and the settlement may travel in separate batches, so waiting for the
            // first alone would leave the 50 cents reserved, not settled, whenever the kill fell between the two.
            var held = await Poll.UntilAsync(() => ListLeasesAsync(service.Address), reply => reply.Leases.Any(l => l.State == "active" && l.UsedMicroUsd == 500_000));
            await Poll.UntilAsync(async () => await host.Admin.GetDailySpendAsync(KeyId), spent => spent.Settled == Usd.FromCents(50));
            var lease = held.Leases.Single();
            await holder.KillAsync();
            var stranded = await Poll.UntilAsync(() => ListLeasesAsync(service.Address), reply => reply.StrandedMicroUsd > 0);
            var key = await KeyInfoAsync(service.Address);

            // Another process spends what it can: everything but the stranded slice, and the slice once its TTL has passed.
            var spender = (await AgentProcess.StartTogetherAsync(
                [() => AgentProcess.StartAsync(service.Address, stub.Url, KeyId, service.Directory, "spender", seed: 2,
                    "--tasks", "4", "--until-stop", "--pause-after-denial-ms", "200", "--min-cents", "50", "--max-cents", "50")],
                running)).Single();
            await Poll.UntilAsync(() => stub.SumOfAmounts("/v1/charges"), cents => cents >= 20_00, TimeSpan.FromSeconds(90));
            await spender.StopAsync();
            var report = await spender.FinishAsync();

            var after = await ListLeasesAsync(service.Address);
            var spend = await host.Admin.GetDailySpendAsync(KeyId);
            Assert.Multiple(() =>
            {
                Assert.That(lease.GrantedMicroUsd, Is.EqualTo(5_000_000), "the holder leased a $5 slice");
                Assert.That(stranded.Leases.Single(l => l.LeaseId == lease.LeaseId).Stranded, Is.True, "once its process was gone, the lease showed as stranded");
                Assert.That(stranded.StrandedMicroUsd, Is.EqualTo(4_500_000), "what it still held: bounded by the slice");
                Assert.That(key.StrandedMicroUsd, Is.EqualTo(4_500_000), "the key's info shows the stranded amount too");
                Assert.That(after.Leases.Single(l => l.LeaseId == lease.LeaseId).State, Is.EqualTo("expired"), "the slice came back when its TTL ended");
                Assert.That(report.AllowedCents, Is.EqualTo(19_50), "the other process spent the rest of the cap, the stranded slice included");
                Assert.That(report.DeniedFor(ReasonCodes.DailyCapExceeded), Is.Positive, "it was denied while the slice was stranded");
                Assert.That(stub.SumOfAmounts("/v1/charges"), Is.EqualTo(20_00), "Stripe received exactly the cap");
                Assert.That(spend.Settled, Is.EqualTo(Usd.FromDollars(20)), "the books agree with Stripe");
            });
        }
        finally
        {
            await Task.WhenAll(running.Select(a => a.DisposeAsync().AsTask()));
        }
    }

    /// <summary>The shared key with a daily cap, whose policy leases its budget.</summary>
    internal static Dictionary<string, string?> LeasingKey(string dailyCap)
    {
        var settings = BudgetServiceHost.Key(KeyId, dailyCap);
        settings[$"BudgetService:Keys:{KeyId}:Policy:Lease:Enabled"] = "true";
        return settings;
    }

    /// <summary>The key as the admin API shows it.</summary>
    internal static async Task<KeyInfo> KeyInfoAsync(Uri service)
    {
        using var channel = GrpcChannel.ForAddress(service);
        return await BudgetServiceHost.AdminClient(channel).GetKeyAsync(new GetKeyRequest { KeyId = KeyId });
    }

    /// <summary>Every lease of the key, ended ones too, through the admin API.</summary>
    internal static async Task<ListLeasesReply> ListLeasesAsync(Uri service)
    {
        using var channel = GrpcChannel.ForAddress(service);
        return await BudgetServiceHost.AdminClient(channel).ListLeasesAsync(new ListLeasesRequest { KeyId = KeyId, IncludeEnded = true, Limit = 1000 });
    }
}
