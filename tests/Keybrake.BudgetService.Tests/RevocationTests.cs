using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Protocol;
using static Keybrake.BudgetService.Tests.Calls;

namespace Keybrake.BudgetService.Tests;

/// <summary>Runs on both store engines.</summary>
[TestFixture(StoreEngine.Sqlite)]
[TestFixture(StoreEngine.PostgreSql)]
public sealed class RevocationTests(StoreEngine engine)
{
    [Test]
    public async Task A_revoked_key_is_denied_key_revoked_and_reserves_nothing_until_it_is_restored()
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "100"));
        await service.Budget.AuthorizeAsync(Authorize("agent", 10));

        await service.Admin.RevokeKeyAsync(new KeyActionRequest { KeyId = "agent" });
        var denied = await service.Budget.AuthorizeAsync(Authorize("agent", 5));
        var statusRevoked = await service.Budget.GetKeyStatusAsync(new KeyStatusRequest { KeyIds = { "agent" } });
        var spendWhileRevoked = await service.TodayAsync("agent");
        await service.Admin.RestoreKeyAsync(new KeyActionRequest { KeyId = "agent" });
        var restored = await service.Budget.AuthorizeAsync(Authorize("agent", 5));
        var statusRestored = await service.Budget.GetKeyStatusAsync(new KeyStatusRequest { KeyIds = { "agent" } });

        Assert.Multiple(() =>
        {
            Assert.That((denied.Allowed, denied.Reason, denied.ReservationId), Is.EqualTo((false, "key_revoked", "")));
            Assert.That(denied.Message, Is.EqualTo("key 'agent' is revoked"));
            Assert.That(statusRevoked.Keys.Single().Revoked, Is.True);
            Assert.That(spendWhileRevoked.ReservedMicroUsd, Is.EqualTo(Dollars(10)));
            Assert.That(restored.Allowed, Is.True);
            Assert.That(statusRestored.Keys.Single().Revoked, Is.False);
        });
    }

    [Test]
    public async Task A_retry_of_a_pending_call_on_a_revoked_key_is_denied_too()
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "100"));
        var call = Authorize("agent", 10);
        await service.Budget.AuthorizeAsync(call);

        await service.Admin.RevokeKeyAsync(new KeyActionRequest { KeyId = "agent" });
        var retry = await service.Budget.AuthorizeAsync(call);

        Assert.That((retry.Allowed, retry.Reason), Is.EqualTo((false, "key_revoked")));
    }

    [Test]
    public async Task Reservations_made_before_a_revocation_still_settle()
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "100"));
        var reserved = await service.Budget.AuthorizeAsync(Authorize("agent", 10));
        await service.Admin.RevokeKeyAsync(new KeyActionRequest { KeyId = "agent" });

        var changed = await service.SettleAsync(Commit(reserved.ReservationId, 8));

        var today = await service.TodayAsync("agent");
        Assert.Multiple(() =>
        {
            Assert.That(changed, Is.EqualTo(1));
            Assert.That((today.SettledMicroUsd, today.ReservedMicroUsd), Is.EqualTo((Dollars(8), 0L)));
        });
    }

    [Test]
    public async Task Revoking_one_key_leaves_the_others_alone()
    {
        await using var service = await TestService.StartAsync(engine, TestService.Settings(BudgetServiceHost.Key("a", "100"), BudgetServiceHost.Key("b", "100")));

        await service.Admin.RevokeKeyAsync(new KeyActionRequest { KeyId = "a" });
        var a = await service.Budget.AuthorizeAsync(Authorize("a", 1));
        var b = await service.Budget.AuthorizeAsync(Authorize("b", 1));
        var status = await service.Budget.GetKeyStatusAsync(new KeyStatusRequest { KeyIds = { "a", "b" } });

        Assert.Multiple(() =>
        {
            Assert.That((a.Allowed, b.Allowed), Is.EqualTo((false, true)));
            Assert.That(status.Keys.Select(k => (k.KeyId, k.Revoked)), Is.EqualTo(new[] { ("a", true), ("b", false) }));
        });
    }
}
