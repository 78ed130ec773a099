using Keybrake.BudgetService.Store;
using Keybrake.BudgetService.Store.Sqlite;
using Keybrake.Client.TestUtilities;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Keybrake.BudgetService.Tests;

/// <summary>The store's write-ahead log is checkpointed on a timer by a connection of its own, which goes with the store.</summary>
public sealed class WalCheckpointerTests
{
    private static readonly TimeSpan s_interval = TimeSpan.FromSeconds(1);

    [Test]
    public async Task The_log_is_checkpointed_on_the_clock_truncated_now_and_then_and_the_checkpointer_stops_with_the_store()
    {
        var directory = Directory.CreateTempSubdirectory("keybrake-checkpoint-").FullName;
        var path = Path.Combine(directory, "budget.db");
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 3, 10, 12, 0, 0, TimeSpan.Zero));
        var store = new SqliteBudgetStore(path, time, s_interval, NullLogger<SqliteBudgetStore>.Instance);
        try
        {
            await store.MigrateAsync(CancellationToken.None);
            var checkpointer = store.Checkpointer!;
            await Reserve(store, time, 50);
            var walBeforeAnyTick = new FileInfo(path + "-wal").Length;
            var checkpointsBeforeAnyTick = checkpointer.Checkpoints;

            time.Advance(s_interval);
            var afterOneTick = await Poll.UntilAsync(() => checkpointer.Checkpoints, n => n >= 1);

            // The truncating checkpoint: the log file gives its space back.
            for (var tick = 2; tick <= WalCheckpointer.TruncateEvery; tick++)
            {
                time.Advance(s_interval);
                var expected = tick;
                await Poll.UntilAsync(() => checkpointer.Checkpoints, n => n >= expected);
            }

            var walAfterTruncate = new FileInfo(path + "-wal").Length;
            var spend = await store.GetDaySpendAsync("agent", new DateOnly(2026, 3, 10), CancellationToken.None);

            await store.DisposeAsync();
            var checkpointsAtDisposal = checkpointer.Checkpoints;
            time.Advance(s_interval * 5);
            await Task.Delay(50);

            Assert.Multiple(() =>
            {
                Assert.That(walBeforeAnyTick, Is.GreaterThan(0), "the writer left its commits in the log");
                Assert.That(checkpointsBeforeAnyTick, Is.Zero, "nothing checkpoints before the clock says so");
                Assert.That(afterOneTick, Is.EqualTo(1));
                Assert.That(walAfterTruncate, Is.Zero);
                Assert.That(spend.ReservedMicroUsd, Is.EqualTo(50 * 1_000_000L), "checkpoints lose nothing");
                Assert.That(checkpointer.Checkpoints, Is.EqualTo(checkpointsAtDisposal), "no checkpoint after disposal");
                Assert.That(checkpointsAtDisposal, Is.EqualTo(WalCheckpointer.TruncateEvery));
            });
        }
        finally
        {
            await store.DisposeAsync();
            Directory.Delete(directory, recursive: true);
        }
    }

    private static async Task Reserve(SqliteBudgetStore store, TimeProvider time, int calls)
    {
        for (var i = 0; i < calls; i++)
        {
            var outcome = await store.AuthorizeAsync(
                new AuthorizeCommand("agent", null, $"call-{i}", (UInt128)i, 1_000_000, new DateOnly(2026, 3, 10), long.MaxValue / 2, null, $"rsv_{i}", time.GetUtcNow()),
                CancellationToken.None);
            Assert.That(outcome.Status, Is.EqualTo(AuthorizeStatus.Reserved));
        }
    }
}
