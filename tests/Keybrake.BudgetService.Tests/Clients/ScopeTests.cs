using Grpc.Core;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Protocol;
using static Keybrake.BudgetService.Tests.Calls;

namespace Keybrake.BudgetService.Tests.Clients;

/// <summary>A credential acts only on the keys in its scope: any call naming another key is PermissionDenied and changes nothing.</summary>
/// <summary>Runs on both store engines.</summary>
[TestFixture(StoreEngine.Sqlite)]
[TestFixture(StoreEngine.PostgreSql)]
public sealed class ScopeTests(StoreEngine engine)
{
    /// <summary>Each RPC that names a key, naming the victim's key from a credential scoped to the attacker's.</summary>
    public static IEnumerable<TestCaseData> EveryRpcNamingAKey()
    {
        yield return Case("Authorize", async c => await c.AuthorizeAsync(Authorize("victim", 100)));
        yield return Case("GetKeyPolicy", async c => await c.GetKeyPolicyAsync(new GetKeyPolicyRequest { KeyId = "victim" }));
        yield return Case("GetKeyStatus", async c => await c.GetKeyStatusAsync(new KeyStatusRequest { KeyIds = { "attacker", "victim" } }));
        yield return Case("FindObject", async c => await c.FindObjectAsync(new FindObjectRequest { KeyId = "victim", Vendor = "stripe", ObjectId = "ch_1" }));
        yield return Case("RememberObjects", async c => await c.RememberObjectsAsync(new RememberObjectsRequest { KeyId = "victim", Vendor = "stripe", Objects = { Forged() } }));
        yield return Case("Settle with objects", async c => await c.SettleAsync(new SettleRequest { Objects = { new RememberObjectsRequest { KeyId = "victim", Vendor = "stripe", Objects = { Forged() } } } }));
        yield return Case("SubmitAudit", async c => await c.SubmitAuditAsync(new SubmitAuditRequest { Records = { Record("aud_own", "attacker"), Record("aud_forged", "victim") } }));
        yield return Case("WatchKeys", async c =>
        {
            using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            using var watch = c.WatchKeys(new WatchKeysRequest { KeyIds = { "victim" } }, cancellationToken: cancel.Token);
            await watch.ResponseStream.MoveNext(cancel.Token);
        });

        static TestCaseData Case(string rpc, Func<Protocol.Budget.BudgetClient, Task> call) =>
            new TestCaseData(rpc, call).SetName($"{rpc} naming a key outside the scope is PermissionDenied");
    }

    [TestCaseSource(nameof(EveryRpcNamingAKey))]
    public async Task A_call_naming_a_key_outside_the_scope_is_refused_and_changes_nothing(string rpc, Func<Protocol.Budget.BudgetClient, Task> call)
    {
        await using var service = await TestService.StartAsync(engine, TestService.Settings(BudgetServiceHost.Key("victim", "100"), BudgetServiceHost.Key("attacker", "100")));
        var (attacker, _) = await service.ClientForAsync("attacker-fleet", "attacker");

        var refused = Assert.ThrowsAsync<RpcException>(() => call(attacker));

        var today = await service.TodayAsync("victim");
        var audit = await service.Admin.QueryAuditAsync(new QueryAuditRequest());
        var planted = await service.Budget.FindObjectAsync(new FindObjectRequest { KeyId = "victim", Vendor = "stripe", ObjectId = "ch_forged1" });
        Assert.Multiple(() =>
        {
            Assert.That((refused!.StatusCode, refused.Status.Detail), Is.EqualTo((StatusCode.PermissionDenied, "key 'victim' is outside the scope of client credential 'attacker-fleet'")), rpc);
            Assert.That(today.ReservedMicroUsd, Is.Zero, "nothing reserved on the victim's key");
            Assert.That(audit.Records, Is.Empty, "a batch with a forged record is refused whole");
            Assert.That(planted.Found, Is.False, "nothing planted under the victim's key");
        });
    }

    [Test]
    public async Task A_settlement_of_another_keys_reservation_does_not_touch_it()
    {
        await using var service = await TestService.StartAsync(engine, TestService.Settings(BudgetServiceHost.Key("victim", "100"), BudgetServiceHost.Key("attacker", "100")));
        var (victim, _) = await service.ClientForAsync("victim-fleet", "victim");
        var (attacker, _) = await service.ClientForAsync("attacker-fleet", "attacker");
        var pending = await victim.AuthorizeAsync(Authorize("victim", 50));

        // The attacker knows the id (a leaked log, say) and commits it at $0, and releases it.
        var commit = await attacker.SettleAsync(new SettleRequest { Settlements = { Commit(pending.ReservationId, 0) } });
        var release = await attacker.SettleAsync(new SettleRequest { Settlements = { Release(pending.ReservationId) } });
        var stillPending = await service.UnsettledAsync("victim");
        var beforeOwnerSettles = await service.TodayAsync("victim");
        var own = await victim.SettleAsync(new SettleRequest { Settlements = { Commit(pending.ReservationId, 45) } });
        var after = await service.TodayAsync("victim");

        Assert.Multiple(() =>
        {
            Assert.That((commit.Changed, release.Changed), Is.EqualTo((0, 0)), "the reply does not tell an existing reservation from a missing one");
            Assert.That(stillPending.Select(r => r.ReservationId), Is.EqualTo(new[] { pending.ReservationId }));
            Assert.That((beforeOwnerSettles.ReservedMicroUsd, beforeOwnerSettles.SettledMicroUsd), Is.EqualTo((Dollars(50), 0L)));
            Assert.That(own.Changed, Is.EqualTo(1), "the owner settles it as usual");
            Assert.That((after.ReservedMicroUsd, after.SettledMicroUsd), Is.EqualTo((0L, Dollars(45))));
        });
    }

    [Test]
    public async Task WatchKeys_shows_only_the_keys_in_scope()
    {
        await using var service = await TestService.StartAsync(engine, TestService.Settings(BudgetServiceHost.Key("a", "100"), BudgetServiceHost.Key("b", "100"), BudgetServiceHost.Key("c", "100")));
        var (client, _) = await service.ClientForAsync("fleet-a", "a", "c", "not-yet");
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using var watch = client.WatchKeys(new WatchKeysRequest(), cancellationToken: cancel.Token);
        var events = watch.ResponseStream.ReadAllAsync(cancel.Token).Where(e => e.Kind != KeyEventKind.Heartbeat).GetAsyncEnumerator(cancel.Token);

        await events.MoveNextAsync();
        var snapshot = events.Current;

        // Events in the order the service makes them: b's (out of scope) must not come through before a's.
        await service.Admin.RevokeKeyAsync(new KeyActionRequest { KeyId = "b" });
        await service.Admin.CreateKeyAsync(new CreateKeyRequest { KeyId = "d", Vendor = "stripe", Policy = new Policy { DailyCapMicroUsd = 5 } });
        await service.Admin.RevokeKeyAsync(new KeyActionRequest { KeyId = "a" });
        await events.MoveNextAsync();
        var first = events.Current;
        await service.Admin.CreateKeyAsync(new CreateKeyRequest { KeyId = "not-yet", Vendor = "stripe", Policy = new Policy { DailyCapMicroUsd = 5 } });
        await events.MoveNextAsync();
        var second = events.Current;

        Assert.Multiple(() =>
        {
            Assert.That(snapshot.Keys.Select(k => k.KeyId), Is.EquivalentTo(new[] { "a", "c" }), "the snapshot lists the scope's keys only");
            Assert.That((first.Kind, first.Keys.Single().KeyId), Is.EqualTo((KeyEventKind.Revoked, "a")));
            Assert.That((second.Kind, second.Keys.Single().KeyId), Is.EqualTo((KeyEventKind.Created, "not-yet")), "a key created later under a scoped id is watched");
        });

        await cancel.CancelAsync();
    }

    [Test]
    public async Task A_forged_audit_record_for_another_key_is_refused_and_every_stored_record_names_its_client()
    {
        await using var service = await TestService.StartAsync(engine, TestService.Settings(BudgetServiceHost.Key("victim", "100"), BudgetServiceHost.Key("attacker", "100")));
        var (attacker, _) = await service.ClientForAsync("attacker-fleet", "attacker");
        var forged = Record("aud_forged", "victim");

        var refused = Assert.ThrowsAsync<RpcException>(async () => await attacker.SubmitAuditAsync(new SubmitAuditRequest { Records = { forged } }));

        // A record for its own key claiming to come from someone else is stored under its real client.
        var own = Record("aud_own", "attacker");
        own.ClientId = "victim-fleet";
        await attacker.SubmitAuditAsync(new SubmitAuditRequest { Records = { own } });
        var victimAudit = await service.Admin.QueryAuditAsync(new QueryAuditRequest { KeyId = "victim" });
        var attackerAudit = await service.Admin.QueryAuditAsync(new QueryAuditRequest { KeyId = "attacker" });
        var column = await StoreFile.CountAsync(service, "SELECT COUNT(*) FROM audit_record WHERE client_id = 'attacker-fleet'");

        Assert.Multiple(() =>
        {
            Assert.That(refused!.StatusCode, Is.EqualTo(StatusCode.PermissionDenied));
            Assert.That(victimAudit.Records, Is.Empty);
            Assert.That(attackerAudit.Records.Select(r => (r.RecordId, r.ClientId, r.Message)), Is.EqualTo(new[] { ("aud_own", "attacker-fleet", "FORGED by attacker") }));
            Assert.That(column, Is.EqualTo(1), "the client id is a column of its own");
        });
    }

    [Test]
    public async Task Objects_remembered_under_one_key_are_invisible_to_every_other_key()
    {
        await using var service = await TestService.StartAsync(engine, TestService.Settings(BudgetServiceHost.Key("victim", "100"), BudgetServiceHost.Key("attacker", "100")));
        var (attacker, _) = await service.ClientForAsync("attacker-fleet", "attacker");
        var (victim, _) = await service.ClientForAsync("victim-fleet", "victim");

        // The attacker plants a charge with the victim's allowed customer, under the only key it may use.
        await attacker.RememberObjectsAsync(new RememberObjectsRequest { KeyId = "attacker", Vendor = "stripe", Objects = { Forged() } });
        await attacker.SettleAsync(new SettleRequest { Objects = { new RememberObjectsRequest { KeyId = "attacker", Vendor = "stripe", Objects = { Forged("ch_forged2") } } } });

        var seenByVictim = await victim.FindObjectAsync(new FindObjectRequest { KeyId = "victim", Vendor = "stripe", ObjectId = "ch_forged1" });
        var seenByVictim2 = await victim.FindObjectAsync(new FindObjectRequest { KeyId = "victim", Vendor = "stripe", ObjectId = "ch_forged2" });
        var seenByAttacker = await attacker.FindObjectAsync(new FindObjectRequest { KeyId = "attacker", Vendor = "stripe", ObjectId = "ch_forged1" });

        Assert.Multiple(() =>
        {
            Assert.That((seenByVictim.Found, seenByVictim2.Found), Is.EqualTo((false, false)));
            Assert.That(seenByAttacker.Found, Is.True, "the attacker's own key sees what it remembered");
        });
    }

    private static VendorObject Forged(string id = "ch_forged1") =>
        new() { Id = id, Kind = "charge", Customer = "cus_allowed", Currency = "usd", Amount = 500_000 };

    private static AuditRecord Record(string id, string keyId) => new()
    {
        RecordId = id,
        KeyId = keyId,
        Vendor = "stripe",
        Decision = "allow",
        Message = "FORGED by attacker",
        TimestampUnixMicros = new DateTimeOffset(2026, 3, 10, 12, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds() * 1000,
    };
}
