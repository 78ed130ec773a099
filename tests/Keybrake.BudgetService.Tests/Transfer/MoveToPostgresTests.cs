using Grpc.Core;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Client.TestUtilities.Postgres;
using Keybrake.Client.TestUtilities.Processes;
using Keybrake.Protocol;
using Npgsql;
using static Keybrake.BudgetService.Tests.Calls;

namespace Keybrake.BudgetService.Tests.Transfer;

/// <summary>
/// Moving a service from its SQLite file to PostgreSQL as an operator would: the service stopped, <c>export</c> with the
/// old settings and <c>import</c> with the new ones (each the real service executable, in a process of its own), then the
/// service started on PostgreSQL. Its admin API must answer as the old one did, and the credentials it issued must still work.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class MoveToPostgresTests
{
    private const string Sid = "SM0123456789abcdef0123456789abcdef";

    private string _folder = null!;

    [SetUp]
    public void CreateFolder() => _folder = Directory.CreateTempSubdirectory("keybrake-move-").FullName;

    [TearDown]
    public void DeleteFolder() => Directory.Delete(_folder, recursive: true);

    [Test]
    public async Task A_SQLite_store_exported_and_imported_into_PostgreSQL_answers_the_admin_API_the_same_and_its_credentials_still_work()
    {
        var settings = TestService.Settings(
            BudgetServiceHost.Key("pay", "100", runCap: "60"),
            BudgetServiceHost.Key("sms", "20", vendor: "twilio"),
            BudgetServiceHost.Key("spare", "5"));
        var data = Path.Combine(_folder, "sqlite");
        string billingToken, oldToken, pendingId;
        Snapshot before;
        await using (var sqlite = await TestService.StartAsync(StoreEngine.Sqlite, settings, directory: data))
        {
            (_, billingToken) = await sqlite.ClientForAsync("billing", "pay");
            (_, oldToken) = await sqlite.ClientForAsync("old", "sms");
            await sqlite.Admin.RevokeClientAsync(new ClientActionRequest { ClientId = "old" });
            pendingId = await UseAsync(sqlite);
            before = await SnapshotAsync(sqlite);
            await sqlite.StopAsync();
        }

        var cluster = await PostgresCluster.SharedAsync();
        var database = await cluster.CreateDatabaseAsync();
        var dump = Path.Combine(_folder, "budget.jsonl");
        var exported = await RunAsync(["export", "--to", dump, $"--BudgetService:StoragePath={Path.Combine(data, "budget.db")}"]);
        var imported = await RunAsync(["import", "--from", dump, "--BudgetService:Store=PostgreSQL"], database);
        var again = await RunAsync(["import", "--from", dump, "--BudgetService:Store=PostgreSQL"], database);
        var replaced = await RunAsync(["import", "--from", dump, "--replace", "--BudgetService:Store=PostgreSQL"], database);

        await using var postgres = await TestService.StartAsync(StoreEngine.PostgreSql, settings, postgres: database);
        var after = await SnapshotAsync(postgres);
        var billing = BudgetServiceHost.BudgetClient(postgres.Channel, billingToken);
        var inScope = await billing.AuthorizeAsync(Authorize("pay", 1));
        var outOfScope = Assert.ThrowsAsync<RpcException>(async () => await billing.AuthorizeAsync(Authorize("sms", 1)));
        var revoked = Assert.ThrowsAsync<RpcException>(async () => await BudgetServiceHost.BudgetClient(postgres.Channel, oldToken).AuthorizeAsync(Authorize("sms", 1)));
        var settledLater = await billing.SettleAsync(new SettleRequest { Settlements = { Commit(pendingId, 15) } });

        var password = new NpgsqlConnectionStringBuilder(database).Password!;
        Assert.Multiple(() =>
        {
            Assert.That(exported.ExitCode, Is.EqualTo(0), exported.Errors);
            Assert.That(exported.Output, Does.StartWith("exported ").And.Contain("4 client credentials").And.Contain("3 audit records").And.Contain("1 deferred objects"));
            Assert.That(File.GetUnixFileMode(dump), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite), "the dump is private");
            Assert.That(imported.ExitCode, Is.EqualTo(0), imported.Errors);
            Assert.That(imported.Output, Does.StartWith("imported ").And.Contain(exported.Output["exported ".Length..exported.Output.IndexOf(" from ", StringComparison.Ordinal)]));
            Assert.That((again.ExitCode, again.Errors.Split('\n').Length), Is.EqualTo((1, 1)), "a second import is refused in one line");
            Assert.That(again.Errors, Does.StartWith("error: import failed, nothing was imported: the PostgreSQL budget database ").And.Contain("already holds data").And.Contain("--replace"));
            Assert.That(replaced.ExitCode, Is.EqualTo(0), replaced.Errors);
            Assert.That(string.Join('\n', exported.Output, exported.Errors, imported.Output, imported.Errors, again.Errors, replaced.Output, replaced.Errors),
                Does.Not.Contain(password).And.Not.Contain(billingToken).And.Not.Contain(BudgetServiceHost.ClientToken));

            Assert.That((before.Keys.Count, before.Unsettled.Count, before.Audit.Count, before.Clients.Count), Is.EqualTo((4, 2, 3, 4)), "there was something to move");
            Assert.That(before.Object, Does.Contain("cus_1"));
            Assert.That(after.Keys, Is.EqualTo(before.Keys), "keys, policies, versions and revocations");
            Assert.That(after.Spend, Is.EqualTo(before.Spend), "day and run counters, overruns included");
            Assert.That(after.Unsettled, Is.EqualTo(before.Unsettled), "unsettled reservations");
            Assert.That(after.Audit, Is.EqualTo(before.Audit), "audit records");
            Assert.That(after.Clients, Is.EqualTo(before.Clients), "client credentials");
            Assert.That(after.Deferred, Is.EqualTo(before.Deferred), "deferred objects");
            Assert.That(after.Object, Is.EqualTo(before.Object), "remembered vendor objects");
            Assert.That(after.Duty.Granted, Is.False, "the duty claim moved too: another holder is refused");
            Assert.That(after.Duty.Holder, Is.EqualTo("reconciler-1"));

            Assert.That(inScope.Allowed, Is.True, "the credential issued on SQLite works on PostgreSQL");
            Assert.That(outOfScope!.StatusCode, Is.EqualTo(StatusCode.PermissionDenied), "and only within its scope");
            Assert.That(revoked!.StatusCode, Is.EqualTo(StatusCode.Unauthenticated), "a revoked credential stays revoked");
            Assert.That(settledLater.Changed, Is.EqualTo(1), "a reservation left pending on SQLite settles on PostgreSQL");
        });
    }

    /// <summary>Calls through the real service that leave something in every table; returns a reservation left pending.</summary>
    private static async Task<string> UseAsync(TestService service)
    {
        var billing = BudgetServiceHost.BudgetClient(service.Channel, (await service.ClientForAsync("charges", "pay")).Token);

        // Settled past the run cap (an overrun), released, and one left pending.
        var a = await billing.AuthorizeAsync(Authorize("pay", 30, runId: "run-1"));
        var b = await billing.AuthorizeAsync(Authorize("pay", 30, runId: "run-1"));
        var released = await billing.AuthorizeAsync(Authorize("pay", 3));
        await billing.SettleAsync(new SettleRequest
        {
            Settlements = { Commit(a.ReservationId, 40), Commit(b.ReservationId, 35), Release(released.ReservationId) },
            Objects = { new RememberObjectsRequest { KeyId = "pay", Vendor = "stripe", Objects = { new VendorObject { Id = "ch_1", Kind = "charge", Customer = "cus_1", Currency = "usd", Amount = 4000 } } } },
        });
        var pending = await billing.AuthorizeAsync(Authorize("pay", 20, runId: "run-2"));

        // A Twilio message waiting for its price, and the duty of reconciling it.
        var sms = await service.Budget.AuthorizeAsync(Authorize("sms", 0.0083m));
        await service.Budget.SettleAsync(new SettleRequest
        {
            Deferrals = { new Deferral { KeyId = "sms", Vendor = "twilio", ObjectId = Sid, ReservationId = sms.ReservationId, Refetch = "AC1 https://api.twilio.com/x.json" } },
        });
        await service.Budget.ClaimDutyAsync(new ClaimDutyRequest { KeyId = "sms", Duty = "twilio-price-reconciliation", Holder = "reconciler-1", TtlMilliseconds = 86_400_000 });

        await AuditIntakeTests.SubmitAsync(service, AuditIntakeTests.Record("rec-1"), AuditIntakeTests.Record("rec-2"), AuditIntakeTests.Record("rec-3"));

        // Keys changed by the operator: a policy, a revocation, a key the admin API created.
        await service.Admin.UpdateKeyPolicyAsync(new UpdateKeyPolicyRequest { KeyId = "sms", Policy = new Policy { DailyCapMicroUsd = Dollars(25) } });
        await service.Admin.RevokeKeyAsync(new KeyActionRequest { KeyId = "spare" });
        await service.Admin.CreateKeyAsync(new CreateKeyRequest { KeyId = "made", Vendor = "resend", Policy = new Policy { DailyCapMicroUsd = Dollars(7) } });
        return pending.ReservationId;
    }

    private static async Task<Snapshot> SnapshotAsync(TestService service)
    {
        var keys = (await service.Admin.ListKeysAsync(new ListKeysRequest())).Keys.Select(key => key.ToString()).ToList();
        var spend = new List<string>();
        foreach (var groups in new[] { new[] { "key", "day" }, ["key", "run"] })
        {
            spend.AddRange((await service.Admin.QuerySpendAsync(new QuerySpendRequest { GroupBy = { groups } })).Rows.Select(row => row.ToString()));
        }

        spend.Add((await service.TodayAsync("pay")).ToString());
        spend.Add((await service.RunAsync("pay", "run-1")).ToString());
        var unsettled = (await service.UnsettledAsync()).Select(reservation => reservation.ToString()).ToList();
        var audit = (await service.Admin.QueryAuditAsync(new QueryAuditRequest { PageSize = 1000 })).Records.Select(record => record.ToString()).ToList();
        var clients = (await service.Admin.ListClientsAsync(new ListClientsRequest())).Clients.Select(client => client.ToString()).ToList();
        var deferred = (await service.Budget.ListDeferredAsync(new ListDeferredRequest { KeyId = "sms", Vendor = "twilio" })).ToString();
        var found = (await service.Budget.FindObjectAsync(new FindObjectRequest { KeyId = "pay", Vendor = "stripe", ObjectId = "ch_1" })).ToString();
        var duty = await service.Budget.ClaimDutyAsync(new ClaimDutyRequest { KeyId = "sms", Duty = "twilio-price-reconciliation", Holder = "someone-else", TtlMilliseconds = 1000 });
        return new Snapshot(keys, spend, unsettled, audit, clients, deferred, found, duty);
    }

    /// <summary>Runs the service executable's <c>export</c> or <c>import</c>; a PostgreSQL connection string goes in the environment, as the docs advise.</summary>
    private async Task<(int ExitCode, string Output, string Errors)> RunAsync(string[] arguments, string? connectionString = null)
    {
        var environment = new Dictionary<string, string>();
        if (connectionString is not null)
        {
            environment["ConnectionStrings__Keybrake"] = connectionString;
        }

        await using var process = DotnetProcess.Start("Keybrake.BudgetService.dll", arguments, workingDirectory: _folder, environment: environment);
        var exitCode = await process.WaitForExitAsync(TimeSpan.FromSeconds(120));
        var diagnostics = process.Diagnostics;
        var errorsAt = diagnostics.IndexOf("stderr:\n", StringComparison.Ordinal);
        var outputAt = diagnostics.IndexOf("stdout:\n", StringComparison.Ordinal) + "stdout:\n".Length;
        return (exitCode, diagnostics[outputAt..errorsAt].Trim(), diagnostics[(errorsAt + "stderr:\n".Length)..].Trim());
    }

    private sealed record Snapshot(List<string> Keys, List<string> Spend, List<string> Unsettled, List<string> Audit, List<string> Clients, string Deferred, string Object, ClaimDutyReply Duty);
}
