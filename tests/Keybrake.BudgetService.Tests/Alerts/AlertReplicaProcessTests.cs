using Grpc.Net.Client;
using Keybrake.Client.TestUtilities;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Client.TestUtilities.Postgres;
using Keybrake.Protocol;
using static Keybrake.BudgetService.Tests.Calls;

namespace Keybrake.BudgetService.Tests.Alerts;

/// <summary>Two service processes of their own on one PostgreSQL database, both seeing the same crossings.</summary>
public sealed class AlertReplicaProcessTests
{
    [Test]
    public async Task Two_replica_processes_that_both_see_a_threshold_crossed_fire_it_once_and_deliver_it_once()
    {
        using var receiver = new WebhookReceiver();
        var database = await (await PostgresCluster.SharedAsync()).CreateDatabaseAsync();
        var settings = TestService.Settings(
            BudgetServiceHost.Key("agent", "100"),
            receiver.Webhook("ops", "/hook", null, "budget.threshold"),
            receiver.Webhook("events", "/events", null, "key.revoked", "key.restored"),
            new Dictionary<string, string?> { ["BudgetService:Store"] = "PostgreSQL", ["ConnectionStrings:Keybrake"] = database });
        await using var a = await BudgetServiceProcess.StartAsync(settings);
        await using var b = await BudgetServiceProcess.StartAsync(settings);
        using var channelA = GrpcChannel.ForAddress(a.Address);
        using var channelB = GrpcChannel.ForAddress(b.Address);
        var budgetA = BudgetServiceHost.BudgetClient(channelA);
        var budgetB = BudgetServiceHost.BudgetClient(channelB);

        // Each replica's every call after the first sees the day past 50%, and its last ones past 80%: both evaluate both.
        foreach (var (budget, dollars) in new[] { (budgetA, 30m), (budgetB, 30m), (budgetA, 5m), (budgetB, 5m), (budgetA, 15m), (budgetB, 1m), (budgetA, 1m) })
        {
            Assert.That((await budget.AuthorizeAsync(Authorize("agent", dollars))).Allowed, Is.True);
        }

        // Each replica evaluates its signals in order: once its own revocation alert is stored, it has evaluated every
        // spend before it. B revokes and A restores, so both are known to be done.
        await BudgetServiceHost.AdminClient(channelB).RevokeKeyAsync(new KeyActionRequest { KeyId = "agent" });
        await BudgetServiceHost.AdminClient(channelA).RestoreKeyAsync(new KeyActionRequest { KeyId = "agent" });
        var adminA = BudgetServiceHost.AdminClient(channelA);
        var listed = await Poll.UntilAsync(
            async () => (await adminA.ListAlertsAsync(new ListAlertsRequest())).Alerts,
            alerts => alerts.Count == 4 && alerts.SelectMany(alert => alert.Deliveries).All(delivery => delivery.State == "delivered"));
        var thresholds = receiver.Received();

        Assert.Multiple(() =>
        {
            Assert.That(listed.Select(alert => alert.Type), Is.EquivalentTo(new[] { "budget.threshold", "budget.threshold", "key.revoked", "key.restored" }), a.Diagnostics + b.Diagnostics);
            Assert.That(thresholds.Select(post => post.Threshold), Is.EquivalentTo(new int?[] { 50, 80 }), "once each, whichever replica fired it");
            Assert.That(thresholds, Has.All.Matches<ReceivedAlert>(post => post.SignatureVerifies()));
            Assert.That(receiver.Received("/events").Select(post => post.Type), Is.EquivalentTo(new[] { "key.revoked", "key.restored" }));
        });
    }
}
