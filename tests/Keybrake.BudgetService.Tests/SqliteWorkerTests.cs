using Keybrake.BudgetService.Store.Sqlite;
using Keybrake.Client.TestUtilities.Logging;
using Microsoft.Data.Sqlite;

namespace Keybrake.BudgetService.Tests;

/// <summary>The store's worker on a scratch database: batching, and an operation that fails inside a batch.</summary>
public sealed class SqliteWorkerTests
{
    private string _directory = null!;
    private CapturingLoggerProvider _logs = null!;
    private SqliteWorker _worker = null!;

    [SetUp]
    public void SetUp()
    {
        _directory = Directory.CreateTempSubdirectory("keybrake-worker-").FullName;
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path.Combine(_directory, "worker.db"), Pooling = false }.ToString());
        connection.Open();
        using (var setup = connection.CreateCommand())
        {
            setup.CommandText = "PRAGMA journal_mode = WAL; CREATE TABLE item (name TEXT PRIMARY KEY) WITHOUT ROWID;";
            setup.ExecuteNonQuery();
        }

        _logs = new CapturingLoggerProvider();
        _worker = new SqliteWorker(connection, _logs.CreateLogger("worker"));
    }

    [TearDown]
    public async Task TearDown()
    {
        await _worker.DisposeAsync();
        _logs.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    [Test]
    public async Task An_operation_that_throws_in_a_batch_fails_alone_and_the_others_commit()
    {
        // One operation holds the worker until three more have queued, so those three run as one batch.
        using var holding = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var holder = Task.Run(() => _worker.RunAsync(c => { holding.Set(); release.Wait(); return Insert(c, "holder"); }, CancellationToken.None));
        holding.Wait();
        var runs = new int[3];
        var first = _worker.RunAsync(c => { runs[0]++; return Insert(c, "first"); }, CancellationToken.None);
        var failing = _worker.RunAsync<int>(
            c =>
            {
                runs[1]++;
                Insert(c, "failing");
                throw new InvalidOperationException("this operation fails after writing");
            },
            CancellationToken.None);
        var third = _worker.RunAsync(c => { runs[2]++; return Insert(c, "third"); }, CancellationToken.None);
        release.Set();
        await holder;

        var failure = Assert.ThrowsAsync<InvalidOperationException>(async () => await failing);
        var (firstResult, thirdResult, names) = (await first, await third, await Names());
        Assert.Multiple(() =>
        {
            Assert.That(failure!.Message, Is.EqualTo("this operation fails after writing"));
            Assert.That((firstResult, thirdResult), Is.EqualTo((1, 1)));
            Assert.That(names, Is.EqualTo(new[] { "first", "holder", "third" }));

            // Together first (the batch stopped at the failure and rolled back), then each alone.
            Assert.That(runs, Is.EqualTo(new[] { 2, 2, 1 }));
            Assert.That(_logs.Logs.Select(l => l.Message), Has.One.Contains("A batch of 3 store operations failed"));
        });
    }

    [Test]
    public async Task A_constraint_violation_fails_its_operation_with_the_sqlite_error_and_the_worker_carries_on()
    {
        await _worker.RunAsync(c => Insert(c, "taken"), CancellationToken.None);

        var duplicate = Assert.ThrowsAsync<SqliteException>(async () => await _worker.RunAsync(c => Insert(c, "taken"), CancellationToken.None));
        var after = await _worker.RunAsync(c => Insert(c, "after"), CancellationToken.None);
        var names = await Names();

        Assert.Multiple(() =>
        {
            Assert.That(duplicate!.SqliteErrorCode, Is.EqualTo(19)); // SQLITE_CONSTRAINT
            Assert.That(after, Is.EqualTo(1));
            Assert.That(names, Is.EqualTo(new[] { "after", "taken" }));
        });
    }

    [Test]
    public async Task Operations_from_many_callers_all_commit()
    {
        var inserts = Enumerable.Range(0, 200)
            .Select(i => Task.Run(() => _worker.RunAsync(c => Insert(c, $"item-{i:D3}"), CancellationToken.None)))
            .ToArray();
        var results = await Task.WhenAll(inserts);
        var names = await Names();

        Assert.Multiple(() =>
        {
            Assert.That(results, Has.All.EqualTo(1));
            Assert.That(names, Has.Length.EqualTo(200));
        });
    }

    [Test]
    public async Task A_disposed_worker_refuses_new_operations()
    {
        await _worker.RunAsync(c => Insert(c, "before"), CancellationToken.None);
        await _worker.DisposeAsync();

        Assert.Throws<ObjectDisposedException>(() => _worker.RunAsync(c => Insert(c, "after"), CancellationToken.None));
    }

    [Test]
    public async Task A_statement_run_again_reuses_its_command_with_the_new_values_and_a_nested_use_gets_a_command_of_its_own()
    {
        await _worker.RunAsync(c => Insert(c, "a") + Insert(c, "b"), CancellationToken.None);
        const string Select = "SELECT name FROM item WHERE name = $name";

        var seen = await _worker.RunAsync(
            c =>
            {
                SqliteCommand first;
                object? firstName;
                using (first = c.AdHoc(Select, ("$name", "a")))
                {
                    firstName = first.ExecuteScalar();
                }

                using var again = c.AdHoc(Select, ("$name", "b"));
                using var nested = c.AdHoc(Select, ("$name", "a"));
                return (Reused: ReferenceEquals(first, again), First: firstName, Again: again.ExecuteScalar(), NestedOwn: !ReferenceEquals(again, nested), Nested: nested.ExecuteScalar());
            },
            CancellationToken.None);

        Assert.Multiple(() =>
        {
            Assert.That(seen.Reused, Is.True, "the statement disposed by its first caller was handed out again");
            Assert.That(seen.First, Is.EqualTo("a"));
            Assert.That(seen.Again, Is.EqualTo("b"), "with the values of its second use, not its first");
            Assert.That(seen.NestedOwn, Is.True, "a use while the statement is still in use gets another command");
            Assert.That(seen.Nested, Is.EqualTo("a"));
        });
        Assert.That(await Names(), Is.EqualTo(new[] { "a", "b" }));
    }

    private static int Insert(SqliteCommands commands, string name)
    {
        using var insert = commands.AdHoc("INSERT INTO item (name) VALUES ($name)", ("$name", name));
        return insert.ExecuteNonQuery();
    }

    private Task<string[]> Names() =>
        _worker.RunAsync(
            c =>
            {
                using var select = c.AdHoc("SELECT name FROM item ORDER BY name");
                using var reader = select.ExecuteReader();
                var names = new List<string>();
                while (reader.Read())
                {
                    names.Add(reader.GetString(0));
                }

                return names.ToArray();
            },
            CancellationToken.None);
}
