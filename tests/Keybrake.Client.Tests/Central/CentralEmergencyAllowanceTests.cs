using System.Net;
using Keybrake.Client.Central;
using Keybrake.Client.TestUtilities;
using Keybrake.Client.TestUtilities.BudgetService;
using static Keybrake.Client.Tests.CentralGuardHost;

namespace Keybrake.Client.Tests;

public sealed class CentralEmergencyAllowanceTests
{
    [Test]
    public async Task The_emergency_allowance_allows_calls_while_the_service_is_down_up_to_its_cap_then_fails_closed()
    {
        await using var service = await CentralGuardHost.StartServiceAsync();
        await using var host = CentralGuardHost.Start(service.Address, budgetService: o =>
        {
            o.EmergencyAllowance = Usd.FromDollars(10);
            o.MaxRetries = 0;
        });
        await service.StopAsync();

        var decisions = new List<(HttpStatusCode Status, string? Decision)>();
        foreach (var cents in new[] { 400, 400, 400, 200, 1 })
        {
            using var response = await host.SpendAsync(cents);
            decisions.Add((response.StatusCode, DecisionOf(response)));
        }

        var denial = host.Audit.Records.Single(r => r.Decision == "deny" && r.EstimatedMicroUsd == Usd.FromCents(400).Micros);
        Assert.Multiple(() =>
        {
            Assert.That(decisions, Is.EqualTo(new (HttpStatusCode, string?)[]
            {
                (HttpStatusCode.OK, null),
                (HttpStatusCode.OK, null),
                ((HttpStatusCode)424, ReasonCodes.BudgetServiceUnavailable),
                (HttpStatusCode.OK, null),
                ((HttpStatusCode)424, ReasonCodes.BudgetServiceUnavailable),
            }), "$4 + $4 + $2 fill the $10 allowance; $4 more does not fit, nor does one cent after it");
            Assert.That(host.Vendor.Received, Has.Count.EqualTo(3));
            Assert.That(denial.Message, Does.Contain("emergency allowance is used up"));
        });
    }

    [Test]
    public async Task Calls_on_the_emergency_allowance_are_logged_and_their_audit_records_reach_the_service_when_it_returns()
    {
        await using var service = await CentralGuardHost.StartServiceAsync();
        await using var host = CentralGuardHost.Start(service.Address, budgetService: o =>
        {
            o.EmergencyAllowance = Usd.FromDollars(10);
            o.MaxRetries = 0;
        });
        await service.StopAsync();

        using var allowed = await host.SpendAsync(700);
        using var denied = await host.SpendAsync(700);
        await using var restarted = await CentralGuardHost.StartServiceAsync(directory: service.Directory, port: service.Address.Port);
        var atService = await Poll.UntilAsync(() => BudgetStoreFile.ReadAudit(service.StoragePath), records => records.Count >= 2);

        var emergency = host.Audit.Records.Single(r => r.Decision == "allow");
        var logged = host.Logs.Logs.Where(l => l.EventId.Name == "EmergencyAllowanceUsed").ToList();
        Assert.Multiple(() =>
        {
            Assert.That(allowed.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(DecisionOf(denied), Is.EqualTo(ReasonCodes.BudgetServiceUnavailable));
            Assert.That(emergency.ReservationId, Does.StartWith(EmergencyAllowance.ReservationPrefix), "the audit record names the allowance as the reservation");
            Assert.That(emergency.Message, Does.Contain("emergency allowance"), "and says so in words");
            Assert.That(emergency.Settlement, Is.EqualTo("commit"));
            Assert.That(emergency.SettledMicroUsd, Is.EqualTo(Usd.FromDollars(7).Micros));
            Assert.That(logged, Has.Count.EqualTo(1));
            Assert.That(logged.Single().Message, Does.Contain("emergency allowance").And.Contain(emergency.ReservationId));
            Assert.That(atService.Select(r => r.RecordId), Is.EquivalentTo(host.Audit.Records.Select(r => r.RecordId)));
            Assert.That(atService.Single(r => r.Decision == "allow").Json, Does.Contain(emergency.ReservationId!));
        });
    }

    [Test]
    public async Task A_key_that_denies_reads_during_an_outage_still_spends_the_emergency_allowance_on_money_calls()
    {
        await using var service = await CentralGuardHost.StartServiceAsync();
        await using var host = CentralGuardHost.Start(
            service.Address,
            policy: p => p.ReadsDuringOutage = OutageBehavior.Deny,
            budgetService: o =>
            {
                o.EmergencyAllowance = Usd.FromDollars(10);
                o.MaxRetries = 0;
                o.KeyStatusCacheDuration = TimeSpan.Zero;
            });
        await service.StopAsync();

        using var read = await host.ReadAsync();
        using var spend = await host.SpendAsync(500);

        Assert.Multiple(() =>
        {
            Assert.That(DecisionOf(read), Is.EqualTo(ReasonCodes.BudgetServiceUnavailable), "the key's policy denies reads");
            Assert.That(spend.StatusCode, Is.EqualTo(HttpStatusCode.OK), "a money call is Authorize's to decide, and the allowance has room");
            Assert.That(host.Vendor.Received, Has.Count.EqualTo(1));
        });
    }
}
