using Grpc.Net.Client;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Client.TestUtilities.Postgres;
using Keybrake.Protocol;

namespace Keybrake.BudgetService.Tests.Replicas;

/// <summary>Two replicas as service processes of their own on one PostgreSQL database.</summary>
public sealed class ReplicaProcessTests
{
    [Test]
    public async Task A_revocation_through_one_replica_process_reaches_a_stream_on_the_other_and_a_restoration_follows()
    {
        var database = await (await PostgresCluster.SharedAsync()).CreateDatabaseAsync();
        var settings = TestService.Settings(
            BudgetServiceHost.Key("agent", "100"),
            new Dictionary<string, string?> { ["BudgetService:Store"] = "PostgreSQL", ["ConnectionStrings:Keybrake"] = database });
        await using var a = await BudgetServiceProcess.StartAsync(settings);
        await using var b = await BudgetServiceProcess.StartAsync(settings);
        using var channelA = GrpcChannel.ForAddress(a.Address);
        using var channelB = GrpcChannel.ForAddress(b.Address);
        var adminA = BudgetServiceHost.AdminClient(channelA);
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var (call, events) = Replica.Watch(BudgetServiceHost.BudgetClient(channelB), cancel.Token, "agent");
        using var watch = call;
        var snapshot = await events.NextAsync();

        await adminA.RevokeKeyAsync(new KeyActionRequest { KeyId = "agent" });
        var revoked = await events.NextAsync();
        await adminA.RestoreKeyAsync(new KeyActionRequest { KeyId = "agent" });
        var restored = await events.NextAsync();

        Assert.Multiple(() =>
        {
            Assert.That(snapshot.Keys.Single().Revoked, Is.False);
            Assert.That((revoked.Kind, revoked.Keys.Single().Revoked), Is.EqualTo((KeyEventKind.Revoked, true)), b.Diagnostics);
            Assert.That((restored.Kind, restored.Keys.Single().Revoked), Is.EqualTo((KeyEventKind.Restored, false)), b.Diagnostics);
        });

        await cancel.CancelAsync();
    }
}
