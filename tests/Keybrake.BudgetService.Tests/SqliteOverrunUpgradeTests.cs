using Keybrake.Client.TestUtilities.BudgetService;
using Microsoft.Extensions.Time.Testing;
using static Keybrake.BudgetService.Tests.Calls;

namespace Keybrake.BudgetService.Tests;

/// <summary>A SQLite budget file from before overruns were recorded (schema version 4) upgrades in place.</summary>
public sealed class SqliteOverrunUpgradeTests
{
    [Test]
    public async Task A_budget_file_from_before_overruns_were_recorded_upgrades_with_its_counters_and_no_overrun()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 3, 10, 12, 0, 0, TimeSpan.Zero));
        var settings = TestService.Settings(BudgetServiceHost.Key("agent", "10"));
        await using var first = await TestService.StartAsync(settings, time);
        var spent = await first.Budget.AuthorizeAsync(Authorize("agent", 8));
        await first.SettleAsync(Commit(spent.ReservationId, 8));
        await first.StopAsync();

        // Back to schema version 4: the counters as they were, without the overrun columns (6), the deferred objects (5), the vault (7), the alerts (8),
        // the leases (9) or the LLM spend (10).
        var path = Path.Combine(first.Host.Directory, "budget.db");
        await StoreFile.ExecuteAsync(path, "ALTER TABLE day_counter DROP COLUMN overrun; ALTER TABLE run_counter DROP COLUMN overrun; DROP TABLE deferred_object; DROP TABLE duty_claim; DROP TABLE key_secret; "
            + "ALTER TABLE api_key DROP COLUMN secret_version; ALTER TABLE api_key DROP COLUMN secret_set_at; ALTER TABLE api_key DROP COLUMN previous_secret_valid_until; "
            + "DROP TABLE alert; DROP TABLE alert_delivery; "
            + "DROP TABLE lease; ALTER TABLE reservation DROP COLUMN lease_id; ALTER TABLE day_counter DROP COLUMN leased; ALTER TABLE run_counter DROP COLUMN leased; "
            + "DROP TABLE llm_spend; DROP TABLE llm_run_total; ALTER TABLE client_credential DROP COLUMN integrations; "
            + "DELETE FROM schema_version WHERE version >= 5;");

        await using var second = await TestService.StartAsync(settings, time, first.Host.Directory);
        var today = await second.TodayAsync("agent");
        var more = await second.Budget.AuthorizeAsync(Authorize("agent", 2));
        await second.SettleAsync(Commit(more.ReservationId, 5));
        var after = await second.TodayAsync("agent");

        Assert.Multiple(() =>
        {
            Assert.That((today.SettledMicroUsd, today.OverCap), Is.EqualTo((Dollars(8), false)));
            Assert.That((after.SettledMicroUsd, after.OverrunMicroUsd), Is.EqualTo((Dollars(13), Dollars(3))), "recorded in the upgraded file");
        });
    }
}
