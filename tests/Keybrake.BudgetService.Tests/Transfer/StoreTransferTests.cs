using Keybrake.BudgetService.Alerts;
using Keybrake.BudgetService.Clients;
using Keybrake.BudgetService.Hosting;
using Keybrake.BudgetService.Store;
using Keybrake.BudgetService.Store.Transfer;
using Keybrake.BudgetService.Tests.Stores;
using Keybrake.Client.TestUtilities.Postgres;
using Microsoft.Data.Sqlite;
using Npgsql;
using static Keybrake.BudgetService.Tests.Stores.StoreCalls;

namespace Keybrake.BudgetService.Tests.Transfer;

/// <summary>
/// The store's export and import, table by table: every row of every table travels from SQLite to PostgreSQL and back
/// unchanged, the tables a dump carries are all the tables either engine holds, and a dump that is cut short or not a
/// dump writes nothing.
/// </summary>
public sealed class StoreTransferTests
{
    private readonly List<StoreUnderTest> _stores = [];
    private string _folder = null!;

    [SetUp]
    public void CreateFolder() => _folder = Directory.CreateTempSubdirectory("keybrake-transfer-").FullName;

    [TearDown]
    public async Task CloseAsync()
    {
        foreach (var store in _stores)
        {
            await store.DisposeAsync();
        }

        _stores.Clear();
        Directory.Delete(_folder, recursive: true);
    }

    [Test]
    public async Task Every_row_of_every_table_travels_from_SQLite_to_PostgreSQL_and_back_unchanged()
    {
        var sqlite = await SqliteAsync("first.db");
        await FillAsync(sqlite);
        var postgres = await PostgresAsync();
        var back = await SqliteAsync("back.db");

        var original = await RowsAsync(sqlite);
        var toPostgres = await postgres.Transfer.ImportAsync(Stream(original), replace: false, CancellationToken.None);
        var inPostgres = await RowsAsync(postgres);
        await back.Transfer.ImportAsync(Stream(inPostgres), replace: false, CancellationToken.None);
        var backInSqlite = await RowsAsync(back);

        Assert.Multiple(() =>
        {
            Assert.That(StoreTables.All.Where(table => !original.ContainsKey(table.Name)).Select(table => table.Name), Is.Empty, "the filled store has a row in every table");
            Assert.That(toPostgres.Values.Sum(), Is.EqualTo(original.Values.Sum(rows => rows.Count)));
            Assert.That(inPostgres, Is.EqualTo(original), "PostgreSQL holds what SQLite held");
            Assert.That(backInSqlite, Is.EqualTo(original), "and SQLite again after the way back");
        });
    }

    [Test]
    public async Task A_key_never_revoked_on_SQLite_gets_its_state_row_on_PostgreSQL_as_keys_made_there_do()
    {
        var sqlite = await SqliteAsync("fresh.db");
        await sqlite.Keys.TryInsertAsync(new StoredKey("fresh", "stripe", [1], 1, null, KeySource.Admin, Noon, Noon), CancellationToken.None);
        var postgres = await PostgresAsync();

        var original = await RowsAsync(sqlite);
        await postgres.Transfer.ImportAsync(Stream(original), replace: false, CancellationToken.None);
        var inPostgres = await RowsAsync(postgres);

        Assert.Multiple(() =>
        {
            Assert.That(original.ContainsKey("key_state"), Is.False, "SQLite keeps no state row for a key never revoked");
            Assert.That(inPostgres.GetValueOrDefault("key_state"), Has.Exactly(1).StartsWith("\"fresh\" | false | "), "as a key created on PostgreSQL has");
        });
    }

    [Test]
    public async Task The_tables_a_dump_carries_are_every_table_and_column_of_both_schemas()
    {
        await SqliteAsync("schema.db");
        var database = await (await PostgresCluster.SharedAsync()).CreateDatabaseAsync();
        _stores.Add(await StoreUnderTest.PostgreSql(database).MigratedAsync());
        var expected = StoreTables.All.ToDictionary(table => table.Name, table => table.Columns.Select(column => column.Name).ToList());

        var inSqlite = new Dictionary<string, List<string>>();
        await using (var connection = new SqliteConnection($"Data Source={Path.Combine(_folder, "schema.db")}"))
        {
            await connection.OpenAsync();
            await using var command = new SqliteCommand(
                "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p WHERE m.type = 'table' AND m.name <> 'schema_version' ORDER BY m.name, p.cid", connection);
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                (inSqlite.TryGetValue(reader.GetString(0), out var columns) ? columns : inSqlite[reader.GetString(0)] = []).Add(reader.GetString(1));
            }
        }

        var inPostgres = new Dictionary<string, List<string>>();
        await using (var connection = new NpgsqlConnection(database))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand(
                "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> 'schema_version' ORDER BY table_name, ordinal_position", connection);
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                (inPostgres.TryGetValue(reader.GetString(0), out var columns) ? columns : inPostgres[reader.GetString(0)] = []).Add(reader.GetString(1));
            }
        }

        Assert.Multiple(() =>
        {
            foreach (var (name, columns) in inSqlite)
            {
                Assert.That(expected.GetValueOrDefault(name), Is.EquivalentTo(columns), $"SQLite's {name}");
            }

            foreach (var (name, columns) in inPostgres)
            {
                Assert.That(expected.GetValueOrDefault(name), Is.EquivalentTo(columns), $"PostgreSQL's {name}");
            }

            Assert.That(inSqlite.Keys, Is.EquivalentTo(expected.Keys));
            Assert.That(inPostgres.Keys, Is.EquivalentTo(expected.Keys));
        });
    }

    [Test]
    public async Task A_dump_cut_short_or_not_a_dump_is_refused_in_one_line_and_writes_nothing()
    {
        var source = Path.Combine(_folder, "source.db");
        await FillAsync(await SqliteAsync("source.db"));
        var dump = Path.Combine(_folder, "dump.jsonl");
        var exported = await RunAsync("export", "--to", dump, $"--BudgetService:StoragePath={source}");
        var lines = await File.ReadAllLinesAsync(dump);
        var cut = Path.Combine(_folder, "cut.jsonl");
        await File.WriteAllLinesAsync(cut, lines[..^1]);
        var wrongColumn = Path.Combine(_folder, "wrong.jsonl");
        await File.WriteAllLinesAsync(wrongColumn, [lines[0].Replace("\"amount_returned\"", "\"refunded\"", StringComparison.Ordinal), .. lines[1..]]);
        var notADump = Path.Combine(_folder, "not.jsonl");
        await File.WriteAllTextAsync(notADump, "key_id,vendor\nagent,stripe\n");
        var badValue = Path.Combine(_folder, "bad-value.jsonl");
        await File.WriteAllLinesAsync(badValue, [.. lines[..^2], System.Text.RegularExpressions.Regex.Replace(lines[^2], "\"row\":\\[\"[^\"]*\"", "\"row\":[7"), lines[^1]]);

        var target = Path.Combine(_folder, "target.db");
        var intoTarget = $"--BudgetService:StoragePath={target}";
        var results = new Dictionary<string, (int ExitCode, string Output, string Errors)>
        {
            ["cut"] = await RunAsync("import", "--from", cut, intoTarget),
            ["wrong column"] = await RunAsync("import", "--from", wrongColumn, intoTarget),
            ["not a dump"] = await RunAsync("import", "--from", notADump, intoTarget),
            ["bad value"] = await RunAsync("import", "--from", badValue, intoTarget),
            ["missing"] = await RunAsync("import", "--from", Path.Combine(_folder, "nowhere.jsonl"), intoTarget),
        };
        var overwrite = await RunAsync("export", "--to", dump, $"--BudgetService:StoragePath={source}");
        var noSource = await RunAsync("export", "--to", Path.Combine(_folder, "other.jsonl"), $"--BudgetService:StoragePath={Path.Combine(_folder, "never.db")}");
        var usage = await RunAsync("import", intoTarget);
        var holding = File.Exists(target) ? await (await SqliteAsync("target.db")).Transfer.TablesWithRowsAsync(CancellationToken.None) : [];

        Assert.Multiple(() =>
        {
            Assert.That(exported.ExitCode, Is.EqualTo(0), exported.Errors);
            foreach (var (name, result) in results)
            {
                Assert.That(result.ExitCode, Is.EqualTo(1), name);
                Assert.That(result.Errors, Does.StartWith("error: import failed, nothing was imported: ").And.Not.Contain("\n"), name);
            }

            Assert.That(results["cut"].Errors, Does.Contain("ends without its end line"));
            Assert.That(results["wrong column"].Errors, Does.Contain("line 1: the table vendor_object does not have the columns this service stores"));
            Assert.That(results["not a dump"].Errors, Does.Contain("is not a budget store export"));
            Assert.That(results["bad value"].Errors, Does.Contain($"line {lines.Length - 1}: audit_record.record_id must be a string"));
            Assert.That(results["missing"].Errors, Does.EndWith("nowhere.jsonl does not exist"));
            Assert.That(holding, Is.Empty, "nothing of a refused dump was written");
            Assert.That((overwrite.ExitCode, overwrite.Errors), Is.EqualTo((1, $"error: export failed, nothing was exported: {dump} already exists: export to a new file")));
            Assert.That(noSource.Errors, Does.EndWith("never.db does not exist: set BudgetService:StoragePath to the file the service used"));
            Assert.That(File.Exists(Path.Combine(_folder, "never.db")), Is.False, "an export creates no database");
            Assert.That(File.Exists(Path.Combine(_folder, "other.jsonl")) || File.Exists(Path.Combine(_folder, "other.jsonl.partial")), Is.False, "nor a dump");
            Assert.That(usage.ExitCode, Is.EqualTo(2));
            Assert.That(usage.Errors, Does.StartWith("usage: "));
        });
    }

    /// <summary>A row in every table: keys, a revocation, a vendor secret (sealed) and its previous one, credentials (one revoked, one for an intake integration), counters with an overrun, pending, held and finished reservations, a deferral, a duty, a lease (stranded, with a leased call), a vendor object, audit records, LLM spend with and without a run.</summary>
    private static async Task FillAsync(StoreUnderTest store)
    {
        var budget = store.Budget;
        await store.Keys.TryInsertAsync(new StoredKey("agent", "stripe", [1, 2, 3], 1, [9, 9], KeySource.Admin, Noon, Noon), CancellationToken.None);
        await store.Keys.TryInsertAsync(new StoredKey("sms", "twilio", [4], 3, null, KeySource.Configuration, Noon, Noon.AddHours(1)), CancellationToken.None);
        await budget.SetRevokedAsync("sms", true, Noon, CancellationToken.None);
        await budget.SetRevokedAsync("agent", false, Noon, CancellationToken.None);
        await store.Keys.SetFirstSecretAsync("agent", new SealedSecret(1, "0123456789abcdef", [1, 2, 3, 4]), Noon, CancellationToken.None);
        await store.Keys.RotateSecretAsync("agent", new SealedSecret(2, "0123456789abcdef", [5, 6, 7, 8]), Noon.AddHours(1), Noon.AddMinutes(1), CancellationToken.None);
        await store.Clients.TryInsertAsync(new StoredClient("fleet", [1, 1, 1], ["agent", "sms"], ClientSource.Admin, Noon, null), CancellationToken.None);
        await store.Clients.TryInsertAsync(new StoredClient("gone", [2, 2], ["*"], ClientSource.Configuration, Noon, Noon.AddMinutes(5)), CancellationToken.None);
        await store.Clients.TryInsertAsync(new StoredClient("litellm-proxy", [3, 3], [], ClientSource.Admin, Noon, null, ["litellm"]), CancellationToken.None);

        var settled = await budget.AuthorizeAsync(Authorize("agent", 8, dailyCap: 10, runId: "run-1", runCap: 9), CancellationToken.None);
        await budget.SettleAsync(Commit(settled.ReservationId!, 9.5m), dailyCap: 10);
        await budget.AuthorizeAsync(Authorize("agent", 0.5m, dailyCap: 10), CancellationToken.None);
        var held = await budget.AuthorizeAsync(Authorize("other", 1, dailyCap: 1000), CancellationToken.None);
        await budget.SettleAsync(Commit(held.ReservationId!, 900), dailyCap: 1000);
        var deferred = await budget.AuthorizeAsync(Authorize("twilio-key", 0.01m, dailyCap: 5), CancellationToken.None);
        await budget.RecordDeferralsAsync([new DeferralCommand("twilio-key", "twilio", "SM1", deferred.ReservationId!, "refetch it")], "fleet", Noon, CancellationToken.None);
        await budget.ClaimDutyAsync("twilio-key", "reconcile", "holder-1", Noon, TimeSpan.FromMinutes(5), CancellationToken.None);
        await budget.GrantLeaseAsync(
            new LeaseCommand("lse_1", 1, "leased-key", "run-2", "fleet", "sub_1", "host/1/app at peer", Dollars(0.2m), Today, Dollars(10), null, false, Dollars(0.2m), TimeSpan.FromSeconds(30), Noon.AddHours(12), Noon),
            CancellationToken.None);
        await budget.RecordLeasedCallsAsync([new LeasedCallCommand("lse_1", "rsv_leased", "leased-key", "run-2", "idem-leased", 3, Dollars(0.1m), Noon)], "fleet", Noon, CancellationToken.None);
        await budget.MarkHolderGoneAsync("sub_1", true, Noon, CancellationToken.None);
        await budget.RememberObjectsAsync("agent", "stripe", [new StoredObject("ch_1", "charge", "cus_1", null, "usd", 950, 0)], Noon, CancellationToken.None);
        await budget.AppendAuditAsync(
            [
                new StoredAuditRecord("rec-1", Noon, "agent", "stripe", "run-1", "allow", null, "{\"record_id\":\"rec-1\"}", "fleet", "api.stripe.com"),
                new StoredAuditRecord("rec-2", Noon.AddSeconds(1), "sms", "twilio", null, "deny", "key_revoked", "{\"record_id\":\"rec-2\"}", "fleet"),
            ],
            Noon,
            CancellationToken.None);
        await ((ILlmSpendStore)budget).RecordLlmSpendAsync(
            [
                new LlmSpendEntry("chatcmpl-1", "run-1", 1_047, "gpt-4o", "openai", 14, null, "success", Noon, "litellm-proxy",
                    new StoredAuditRecord("llm_1", Noon, "llm", "llm", "run-1", "allow", null, "{\"record_id\":\"llm_1\"}", "litellm-proxy")),
                new LlmSpendEntry("chatcmpl-2", "", 0, "", "", null, null, "failure", Noon.AddSeconds(2), "litellm-proxy",
                    new StoredAuditRecord("llm_2", Noon.AddSeconds(2), "llm", "llm", null, "allow", null, "{\"record_id\":\"llm_2\"}", "litellm-proxy")),
            ],
            Noon,
            CancellationToken.None);
        await store.Alerts.TryFireAsync(
            new StoredAlert("alt_1", "threshold|agent|day|2026-03-10|80", AlertTypes.Threshold, "agent", "daily", "2026-03-10", 80, "80% of the daily cap", "{\"id\":\"alt_1\"}", Noon),
            ["ops"],
            CancellationToken.None);
        await store.Alerts.RecordAttemptAsync("alt_1", "ops", new DeliveryOutcome(DeliveryState.Pending, Noon, "HTTP 500", Noon.AddSeconds(5)), CancellationToken.None);
    }

    private static async Task<Dictionary<string, List<string>>> RowsAsync(StoreUnderTest store)
    {
        var rows = new Dictionary<string, List<string>>();
        await store.Transfer.ExportAsync(
            (table, row) =>
            {
                (rows.TryGetValue(table.Name, out var list) ? list : rows[table.Name] = []).Add(string.Join(" | ", row.Select(Show)));
                return ValueTask.CompletedTask;
            },
            CancellationToken.None);
        foreach (var list in rows.Values)
        {
            list.Sort(StringComparer.Ordinal);
        }

        return rows;
    }

    private static string Show(object? value) => value switch
    {
        null => "null",
        byte[] bytes => "0x" + Convert.ToHexString(bytes),
        bool flag => flag ? "true" : "false",
        string text => '"' + text + '"',
        _ => Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture)!,
    };

    /// <summary>Rows as an import reads them, parsed back from what <see cref="RowsAsync"/> showed: the original values, by table.</summary>
    private static async IAsyncEnumerable<(StoreTable Table, object?[] Row)> Stream(Dictionary<string, List<string>> rows)
    {
        await Task.Yield();
        foreach (var (name, list) in rows)
        {
            var table = StoreTables.Find(name)!;
            foreach (var line in list)
            {
                var values = line.Split(" | ");
                yield return (table, [.. values.Select((value, i) => Parse(value, table.Columns[i].Kind))]);
            }
        }
    }

    private static object? Parse(string value, ColumnKind kind) => value == "null" ? null : kind switch
    {
        ColumnKind.Text => value[1..^1],
        ColumnKind.Integer => long.Parse(value, System.Globalization.CultureInfo.InvariantCulture),
        ColumnKind.Blob => Convert.FromHexString(value[2..]),
        _ => value == "true",
    };

    private async Task<StoreUnderTest> SqliteAsync(string file)
    {
        var store = await StoreUnderTest.Sqlite(Path.Combine(_folder, file)).MigratedAsync();
        _stores.Add(store);
        return store;
    }

    private async Task<StoreUnderTest> PostgresAsync()
    {
        var store = await StoreUnderTest.PostgreSql(await (await PostgresCluster.SharedAsync()).CreateDatabaseAsync()).MigratedAsync();
        _stores.Add(store);
        return store;
    }

    /// <summary>The command as the executable runs it, in this process (the end-to-end test runs the executable itself).</summary>
    private static async Task<(int ExitCode, string Output, string Errors)> RunAsync(params string[] arguments)
    {
        using var output = new StringWriter();
        using var errors = new StringWriter();
        var exitCode = await StoreTransferCommand.RunAsync(arguments, output, errors, CancellationToken.None);
        return (exitCode, output.ToString().Trim(), errors.ToString().Trim());
    }
}
