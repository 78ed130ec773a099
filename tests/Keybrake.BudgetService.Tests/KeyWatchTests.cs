using Grpc.Core;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Protocol;

namespace Keybrake.BudgetService.Tests;

/// <summary>The key event stream: a snapshot first, then each change as the admin API makes it, and heartbeats.</summary>
/// <summary>Runs on both store engines.</summary>
[TestFixture(StoreEngine.Sqlite)]
[TestFixture(StoreEngine.PostgreSql)]
public sealed class KeyWatchTests(StoreEngine engine)
{
    [Test]
    public async Task A_watch_starts_with_a_snapshot_and_then_carries_each_change()
    {
        await using var service = await TestService.StartAsync(engine, TestService.Settings(BudgetServiceHost.Key("a", "100"), BudgetServiceHost.Key("b", "100")));
        await service.Admin.RevokeKeyAsync(new KeyActionRequest { KeyId = "b" });
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using var watch = service.Budget.WatchKeys(new WatchKeysRequest(), cancellationToken: cancel.Token);
        var events = watch.ResponseStream.ReadAllAsync(cancel.Token).Where(e => e.Kind != KeyEventKind.Heartbeat).GetAsyncEnumerator(cancel.Token);

        await events.MoveNextAsync();
        var snapshot = events.Current;
        await service.Admin.RevokeKeyAsync(new KeyActionRequest { KeyId = "a" });
        await events.MoveNextAsync();
        var revoked = events.Current;
        await service.Admin.UpdateKeyPolicyAsync(new UpdateKeyPolicyRequest { KeyId = "a", Policy = new Policy { DailyCapMicroUsd = 5 } });
        await events.MoveNextAsync();
        var changed = events.Current;
        await service.Admin.RestoreKeyAsync(new KeyActionRequest { KeyId = "a" });
        await events.MoveNextAsync();
        var restored = events.Current;
        await service.Admin.CreateKeyAsync(new CreateKeyRequest { KeyId = "c", Vendor = "stripe", Policy = new Policy { DailyCapMicroUsd = 5 } });
        await events.MoveNextAsync();
        var created = events.Current;

        Assert.Multiple(() =>
        {
            Assert.That(snapshot.Kind, Is.EqualTo(KeyEventKind.Snapshot));
            // Every key the service holds, its appsettings.json sample key included.
            Assert.That(snapshot.Keys.Select(k => (k.KeyId, k.Revoked, k.PolicyVersion)), Is.SupersetOf(new[] { ("a", false, 1L), ("b", true, 1L) }));
            Assert.That((revoked.Kind, revoked.Keys.Single().KeyId, revoked.Keys.Single().Revoked), Is.EqualTo((KeyEventKind.Revoked, "a", true)));
            Assert.That((changed.Kind, changed.Keys.Single().PolicyVersion, changed.Keys.Single().Revoked), Is.EqualTo((KeyEventKind.PolicyChanged, 2L, true)));
            Assert.That((restored.Kind, restored.Keys.Single().Revoked), Is.EqualTo((KeyEventKind.Restored, false)));
            Assert.That((created.Kind, created.Keys.Single().KeyId), Is.EqualTo((KeyEventKind.Created, "c")));
        });

        await cancel.CancelAsync();
    }

    [Test]
    public async Task A_watch_of_some_keys_gets_their_events_only_and_a_heartbeat_when_nothing_happens()
    {
        await using var service = await TestService.StartAsync(engine, TestService.Settings(BudgetServiceHost.Key("a", "100"), BudgetServiceHost.Key("b", "100")));
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using var watch = service.Budget.WatchKeys(new WatchKeysRequest { KeyIds = { "a", "ghost" } }, cancellationToken: cancel.Token);
        var events = watch.ResponseStream.ReadAllAsync(cancel.Token).GetAsyncEnumerator(cancel.Token);

        await events.MoveNextAsync();
        var snapshot = events.Current;
        await service.Admin.RevokeKeyAsync(new KeyActionRequest { KeyId = "b" });
        await events.MoveNextAsync();
        var next = events.Current;

        Assert.Multiple(() =>
        {
            Assert.That(snapshot.Keys.Select(k => (k.KeyId, k.Known)), Is.EqualTo(new[] { ("a", true), ("ghost", false) }));
            Assert.That(next.Kind, Is.EqualTo(KeyEventKind.Heartbeat), "b's revocation is not sent to a watch of a");
        });

        await cancel.CancelAsync();
    }
}
