using Keybrake.BudgetService.Store.Sqlite;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Protocol;
using Microsoft.Extensions.Time.Testing;
using static Keybrake.BudgetService.Tests.Calls;

namespace Keybrake.BudgetService.Tests;

public sealed class PersistenceTests
{
    private static readonly Dictionary<string, string?> s_settings = TestService.Settings(BudgetServiceHost.Key("agent", "100", runCap: "60"), BudgetServiceHost.Key("other", "50"));

    [Test]
    public async Task Counters_pending_reservations_revocations_and_audit_records_survive_a_restart()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 3, 10, 12, 0, 0, TimeSpan.Zero));
        await using var first = await TestService.StartAsync(s_settings, time);
        var pendingCall = Authorize("agent", 30, runId: "run-1");
        var settledCall = Authorize("agent", 20, runId: "run-1");
        var pending = await first.Budget.AuthorizeAsync(pendingCall);
        var settled = await first.Budget.AuthorizeAsync(settledCall);
        await first.SettleAsync(Commit(settled.ReservationId, 15));
        await first.Admin.RevokeKeyAsync(new KeyActionRequest { KeyId = "other" });
        await AuditIntakeTests.SubmitAsync(first, AuditIntakeTests.Record("aud_1"), AuditIntakeTests.Record("aud_2"));
        await first.StopAsync();

        await using var second = await TestService.StartAsync(s_settings, time, first.Host.Directory);
        var today = await second.TodayAsync("agent");
        var run = await second.RunAsync("agent", "run-1");
        var unsettled = await second.UnsettledAsync();
        var pendingRetry = await second.Budget.AuthorizeAsync(pendingCall);
        var settledRetry = await second.Budget.AuthorizeAsync(settledCall);
        var revoked = await second.Budget.AuthorizeAsync(Authorize("other", 1));
        var audit = await AuditIntakeTests.SubmitAsync(second, AuditIntakeTests.Record("aud_1"), AuditIntakeTests.Record("aud_2"));
        var settledAfterRestart = await second.SettleAsync(Commit(pending.ReservationId, 30));

        Assert.Multiple(() =>
        {
            Assert.That((today.SettledMicroUsd, today.ReservedMicroUsd), Is.EqualTo((Dollars(15), Dollars(30))));
            Assert.That((run.SettledMicroUsd, run.ReservedMicroUsd), Is.EqualTo((Dollars(15), Dollars(30))));
            Assert.That(unsettled.Select(r => r.ReservationId), Is.EqualTo(new[] { pending.ReservationId }));
            Assert.That((pendingRetry.Reuse, pendingRetry.ReservationId), Is.EqualTo((ReservationReuse.Pending, pending.ReservationId)));
            Assert.That(settledRetry.Reuse, Is.EqualTo(ReservationReuse.Settled));
            Assert.That((revoked.Allowed, revoked.Reason), Is.EqualTo((false, "key_revoked")));
            Assert.That((audit.Stored, audit.Duplicates), Is.EqualTo((0, 2)));
            Assert.That(settledAfterRestart, Is.EqualTo(1));
        });
    }

    [Test]
    public async Task Restarting_on_the_same_file_migrates_the_schema_once()
    {
        await using var first = await TestService.StartAsync(s_settings);
        await first.Budget.AuthorizeAsync(Authorize("agent", 30));
        await first.Store.MigrateAsync(CancellationToken.None); // a second migration on the open store
        await first.StopAsync();
        await using var second = await TestService.StartAsync(s_settings, directory: first.Host.Directory);
        await second.StopAsync();

        await using var third = await TestService.StartAsync(s_settings, directory: first.Host.Directory);
        var today = await third.TodayAsync("agent");
        var versions = await StoreFile.ScalarAsync(third.Host.StoragePath, "SELECT COUNT(*) || '/' || MAX(version) FROM schema_version");

        Assert.Multiple(() =>
        {
            Assert.That(versions, Is.EqualTo($"{SqliteSchema.Version}/{SqliteSchema.Version}"));
            Assert.That(today.ReservedMicroUsd, Is.EqualTo(Dollars(30)));
        });
    }

    [Test]
    public async Task A_file_from_a_newer_service_refuses_to_start_and_is_left_alone()
    {
        await using var first = await TestService.StartAsync(s_settings);
        await first.Budget.AuthorizeAsync(Authorize("agent", 30));
        await first.StopAsync();
        await StoreFile.ExecuteAsync(first.Host.StoragePath, $"INSERT INTO schema_version (version) VALUES ({SqliteSchema.Version + 1})");

        var refused = Assert.CatchAsync(async () => await TestService.StartAsync(s_settings, directory: first.Host.Directory));

        var reserved = await StoreFile.ScalarAsync(first.Host.StoragePath, "SELECT reserved FROM day_counter WHERE key_id = 'agent'");
        Assert.Multiple(() =>
        {
            Assert.That(refused!.Message, Does.Contain("newer than this service knows"));
            Assert.That(reserved, Is.EqualTo(Dollars(30)));
        });
    }
}
