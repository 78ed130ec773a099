namespace Keybrake.Client.Tests;

public sealed class LedgerAdminTests
{
    [Test]
    public async Task A_revoked_key_is_denied_until_it_is_restored()
    {
        using var harness = new LedgerHarness();

        await harness.Admin.RevokeKeyAsync(LedgerHarness.KeyId);
        var revoked = await harness.Ledger.GetKeyStateAsync(LedgerHarness.KeyId, CancellationToken.None);
        var whileRevoked = await harness.AuthorizeAsync(Usd.FromDollars(1));
        var otherKey = await harness.AuthorizeAsync(Usd.FromDollars(1), keyId: LedgerHarness.OtherKeyId);
        await harness.Admin.RestoreKeyAsync(LedgerHarness.KeyId);
        var restored = await harness.Ledger.GetKeyStateAsync(LedgerHarness.KeyId, CancellationToken.None);
        var afterRestore = await harness.AuthorizeAsync(Usd.FromDollars(1));

        Assert.Multiple(() =>
        {
            Assert.That(revoked, Is.EqualTo(KeyState.Revoked));
            Assert.That(whileRevoked.Denial!.Value.Reason, Is.EqualTo(ReasonCodes.KeyRevoked));
            Assert.That(otherKey.Denial, Is.Null, "revocation is per key");
            Assert.That(restored, Is.EqualTo(KeyState.Active));
            Assert.That(afterRestore.Denial, Is.Null);
        });
    }

    [Test]
    public async Task A_revoked_key_is_denied_even_for_a_retry_of_a_pending_call()
    {
        using var harness = new LedgerHarness();
        await harness.AuthorizeAsync(Usd.FromDollars(1), idempotencyKey: "idem-1");

        await harness.Admin.RevokeKeyAsync(LedgerHarness.KeyId);
        var retry = await harness.AuthorizeAsync(Usd.FromDollars(1), idempotencyKey: "idem-1");

        Assert.That(retry.Denial!.Value.Reason, Is.EqualTo(ReasonCodes.KeyRevoked));
    }

    [Test]
    public async Task Authorizing_for_a_key_the_catalog_does_not_know_is_denied_as_key_unknown()
    {
        using var harness = new LedgerHarness();

        var result = await harness.AuthorizeAsync(Usd.FromDollars(1), keyId: "ghost");

        Assert.Multiple(() =>
        {
            Assert.That(result.Denial!.Value.Reason, Is.EqualTo(ReasonCodes.KeyUnknown));
            Assert.That(result.Denial.Value.Message, Does.Contain("'ghost'"));
        });
    }

    [Test]
    public void Every_admin_call_with_an_unknown_key_id_throws_ArgumentException_naming_it()
    {
        using var harness = new LedgerHarness();
        var admin = harness.Admin;

        var errors = new[]
        {
            Assert.ThrowsAsync<ArgumentException>(async () => await admin.RevokeKeyAsync("ghost")),
            Assert.ThrowsAsync<ArgumentException>(async () => await admin.RestoreKeyAsync("ghost")),
            Assert.ThrowsAsync<ArgumentException>(async () => await admin.GetDailySpendAsync("ghost")),
            Assert.ThrowsAsync<ArgumentException>(async () => await admin.GetRunSpendAsync("ghost", "run_1")),
        };

        Assert.Multiple(() =>
        {
            foreach (var error in errors)
            {
                Assert.That(error!.Message, Does.Contain("'ghost'"));
                Assert.That(error.ParamName, Is.EqualTo("keyId"));
            }
        });
    }

    [Test]
    public async Task A_spend_report_carries_the_cap_the_day_and_what_remains()
    {
        using var harness = new LedgerHarness();
        var committed = await harness.AuthorizeAsync(Usd.FromDollars(25));
        await harness.CommitAsync(committed.ReservationId!, Usd.FromDollars(25));
        await harness.AuthorizeAsync(Usd.FromDollars(10));

        var report = await harness.TodayAsync();

        Assert.That(report, Is.EqualTo(new SpendReport(LedgerHarness.KeyId, Usd.FromDollars(100), Usd.FromDollars(25), Usd.FromDollars(10)) { Day = new DateOnly(2026, 3, 10) }));
        Assert.Multiple(() =>
        {
            Assert.That(report.Committed, Is.EqualTo(Usd.FromDollars(35)));
            Assert.That(report.Remaining, Is.EqualTo(Usd.FromDollars(65)));
        });
    }
}
