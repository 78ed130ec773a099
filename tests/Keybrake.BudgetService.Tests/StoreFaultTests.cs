using Grpc.Core;
using Keybrake.BudgetService.Budget;
using Keybrake.BudgetService.Store.Sqlite;
using Keybrake.Client.TestUtilities;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Client.TestUtilities.Logging;
using Microsoft.Extensions.Logging;
using static Keybrake.BudgetService.Tests.Calls;

namespace Keybrake.BudgetService.Tests;

/// <summary>A full store fails every call closed, and the log hears of it once per episode with a count.</summary>
public sealed class StoreFaultTests
{
    [Test]
    public async Task A_full_store_fails_calls_closed_and_logs_once_per_episode_with_a_count()
    {
        var logs = new CapturingLoggerProvider();
        await using var service = await TestService.StartAsync(
            BudgetServiceHost.Key("agent", "1000000"),
            configure: builder => builder.Logging.AddProvider(logs));
        var store = (SqliteBudgetStore)service.Store;
        await service.Budget.AuthorizeAsync(Authorize("agent", 1)); // a healthy call first: nothing to log

        // The database may not grow a page more: SQLite answers SQLITE_FULL, as it does when the disk is full.
        await store.RunOnWorkerAsync(c =>
        {
            using var pages = c.AdHoc("PRAGMA page_count");
            var count = (long)pages.ExecuteScalar()!;
            using var limit = c.AdHoc($"PRAGMA max_page_count = {count}");
            return limit.ExecuteScalar();
        }, CancellationToken.None);

        // Calls fill the pages there are, then fail.
        var failures = new List<RpcException>();
        await Poll.UntilAsync(
            async () =>
            {
                try
                {
                    await service.Budget.AuthorizeAsync(Authorize("agent", 1, runId: "run-" + Guid.NewGuid().ToString("N")));
                }
                catch (RpcException exception)
                {
                    failures.Add(exception);
                }

                return failures.Count;
            },
            count => count >= 1);
        for (var i = 0; i < 20; i++)
        {
            failures.Add(Assert.ThrowsAsync<RpcException>(async () => await service.Budget.AuthorizeAsync(Authorize("agent", 1, runId: "run-" + Guid.NewGuid().ToString("N"))))!);
        }

        var failingLogs = logs.Logs.Where(l => l.Category.EndsWith(nameof(StoreFaults), StringComparison.Ordinal)).ToList();
        await store.RunOnWorkerAsync(c =>
        {
            using var limit = c.AdHoc("PRAGMA max_page_count = 1073741823");
            return limit.ExecuteScalar();
        }, CancellationToken.None);
        var after = await service.Budget.AuthorizeAsync(Authorize("agent", 1));

        var episode = logs.Logs.Where(l => l.Category.EndsWith(nameof(StoreFaults), StringComparison.Ordinal)).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(failures.Select(f => (f.StatusCode, f.Status.Detail)), Is.All.EqualTo((StatusCode.Unavailable, StoreFaults.Refusal)));
            Assert.That(failingLogs.Select(l => l.Level), Is.EqualTo(new[] { LogLevel.Error }), "one line while it fails");
            Assert.That(failingLogs.Single().Message, Does.Contain("database or disk is full"));
            Assert.That(after.Allowed, Is.True, "the store recovered");
            Assert.That(episode.Last().Message, Does.Contain($"{failures.Count} calls failed closed"));
            Assert.That(logs.Logs.Where(l => l.Level >= LogLevel.Warning).Select(l => l.Exception), Is.All.Null, "no stack trace in any warning or error");
            Assert.That(logs.Logs.Count(l => l.Level >= LogLevel.Warning), Is.EqualTo(2), string.Join("\n", logs.Logs.Where(l => l.Level >= LogLevel.Warning).Select(l => $"{l.Category}: {l.Message}")));
        });
    }
}
