using System.Text;
using Grpc.Core;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Protocol;
using static Keybrake.BudgetService.Tests.Calls;

namespace Keybrake.BudgetService.Tests;

/// <summary>The operator's reads: spend grouped by key, day, vendor and run; the audit trail a page at a time and as a download.</summary>
/// <summary>Runs on both store engines.</summary>
[TestFixture(StoreEngine.Sqlite)]
[TestFixture(StoreEngine.PostgreSql)]
public sealed class SpendAndAuditAdminTests(StoreEngine engine)
{
    private static readonly long s_noon = new DateTimeOffset(2026, 3, 10, 12, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds() * 1000;

    [Test]
    public async Task Spend_is_grouped_by_key_day_vendor_and_run_with_totals()
    {
        await using var service = await TestService.StartAsync(engine, TestService.Settings(BudgetServiceHost.Key("a", "100"), BudgetServiceHost.Key("b", "100")));
        var one = await service.Budget.AuthorizeAsync(Authorize("a", 10, runId: "run-1"));
        await service.Budget.AuthorizeAsync(Authorize("a", 5, runId: "run-2"));
        var three = await service.Budget.AuthorizeAsync(Authorize("b", 7, runId: "run-1"));
        await service.SettleAsync(Commit(one.ReservationId, 8), Commit(three.ReservationId, 7));

        var byKey = await service.Admin.QuerySpendAsync(new QuerySpendRequest());
        var byVendor = await service.Admin.QuerySpendAsync(new QuerySpendRequest { GroupBy = { "vendor" } });
        var byRun = await service.Admin.QuerySpendAsync(new QuerySpendRequest { GroupBy = { "run" } });
        var oneRun = await service.Admin.QuerySpendAsync(new QuerySpendRequest { RunId = "run-1" });
        var oneKey = await service.Admin.QuerySpendAsync(new QuerySpendRequest { KeyId = "b", FromDay = "2026-03-10", ToDay = "2026-03-10" });
        var otherDay = await service.Admin.QuerySpendAsync(new QuerySpendRequest { FromDay = "2026-03-11" });

        Assert.Multiple(() =>
        {
            Assert.That(byKey.Rows.Select(r => (r.KeyId, r.Day, r.SettledMicroUsd, r.ReservedMicroUsd)), Is.EqualTo(new[]
            {
                ("a", "2026-03-10", Dollars(8), Dollars(5)),
                ("b", "2026-03-10", Dollars(7), 0L),
            }));
            Assert.That((byKey.TotalSettledMicroUsd, byKey.TotalReservedMicroUsd), Is.EqualTo((Dollars(15), Dollars(5))));
            Assert.That(byVendor.Rows.Select(r => (r.Vendor, r.KeyId, r.SettledMicroUsd)), Is.EqualTo(new[] { ("stripe", "", Dollars(15)) }));
            Assert.That(byRun.Rows.Select(r => (r.RunId, r.SettledMicroUsd, r.ReservedMicroUsd)), Is.EqualTo(new[] { ("run-1", Dollars(15), 0L), ("run-2", 0L, Dollars(5)) }));
            Assert.That(oneRun.Rows.Select(r => (r.KeyId, r.RunId, r.SettledMicroUsd)), Is.EqualTo(new[] { ("a", "run-1", Dollars(8)), ("b", "run-1", Dollars(7)) }));
            Assert.That(oneKey.Rows.Select(r => r.KeyId), Is.EqualTo(new[] { "b" }));
            Assert.That(otherDay.Rows, Is.Empty);
        });
    }

    [TestCase("group_by", "month", "group_by 'month' is not one of key, day, vendor, run")]
    [TestCase("group_by", "run,day", "group_by cannot combine run and day")]
    [TestCase("from_day", "10/03/2026", "from_day must be yyyy-MM-dd")]
    public async Task Bad_spend_queries_are_refused_by_name(string field, string value, string expected)
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("a", "100"));
        var request = new QuerySpendRequest();
        if (field == "group_by")
        {
            request.GroupBy.Add(value);
        }
        else
        {
            request.FromDay = value;
        }

        var failure = Assert.ThrowsAsync<RpcException>(async () => await service.Admin.QuerySpendAsync(request));

        Assert.Multiple(() =>
        {
            Assert.That(failure!.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));
            Assert.That(failure.Status.Detail, Does.Contain(expected));
        });
    }

    [Test]
    public async Task Audit_records_come_newest_first_a_page_at_a_time_filtered_by_run_key_vendor_decision_and_time()
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "100"));
        var records = Enumerable.Range(0, 25).Select(i => Record(i, runId: i % 2 == 0 ? "run-even" : "run-odd", decision: i % 5 == 0 ? "deny" : "allow")).ToArray();
        await AuditIntakeTests.SubmitAsync(service, records);

        var pages = new List<QueryAuditReply>();
        var token = string.Empty;
        do
        {
            var page = await service.Admin.QueryAuditAsync(new QueryAuditRequest { RunId = "run-even", PageSize = 5, PageToken = token });
            pages.Add(page);
            token = page.NextPageToken;
        }
        while (token.Length > 0);

        var denied = await service.Admin.QueryAuditAsync(new QueryAuditRequest { Decision = "denied" });
        var window = await service.Admin.QueryAuditAsync(new QueryAuditRequest { From = Time(s_noon + Seconds(10)), To = Time(s_noon + Seconds(13)) });
        var otherVendor = await service.Admin.QueryAuditAsync(new QueryAuditRequest { Vendor = "twilio" });

        var even = pages.SelectMany(p => p.Records).Select(r => r.RecordId).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(pages.Select(p => p.Records.Count), Is.EqualTo(new[] { 5, 5, 3 }));
            Assert.That(even, Is.EqualTo(Enumerable.Range(0, 25).Where(i => i % 2 == 0).Reverse().Select(Id)));
            Assert.That(denied.Records.Select(r => r.RecordId), Is.EqualTo(new[] { Id(20), Id(15), Id(10), Id(5), Id(0) }));
            Assert.That(window.Records.Select(r => r.RecordId), Is.EqualTo(new[] { Id(12), Id(11), Id(10) }), "from inclusive, to exclusive");
            Assert.That(otherVendor.Records, Is.Empty);
            var asSent = records[24].Clone();
            asSent.ClientId = BudgetServiceHost.ClientId;
            Assert.That(pages[0].Records[0], Is.EqualTo(asSent), "a record comes back as it was sent, with the client that sent it");
        });
    }

    [TestCase("page_token", "not-a-token", "page_token is not one this service issued")]
    [TestCase("from", "yesterday", "from must be an RFC 3339 time")]
    [TestCase("decision", "maybe", "decision must be \"allow\" or \"deny\"")]
    [TestCase("page_size", "5000", "page_size must be between 1 and 1000")]
    public async Task Bad_audit_queries_are_refused_by_name(string field, string value, string expected)
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "100"));
        var request = field switch
        {
            "page_token" => new QueryAuditRequest { PageToken = value },
            "from" => new QueryAuditRequest { From = value },
            "decision" => new QueryAuditRequest { Decision = value },
            _ => new QueryAuditRequest { PageSize = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture) },
        };

        var failure = Assert.ThrowsAsync<RpcException>(async () => await service.Admin.QueryAuditAsync(request));

        Assert.Multiple(() =>
        {
            Assert.That(failure!.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));
            Assert.That(failure.Status.Detail, Does.Contain(expected));
        });
    }

    [Test]
    public async Task The_audit_export_streams_every_matching_record_oldest_first_as_json_lines_or_csv()
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "100"));
        var records = Enumerable.Range(0, 3000).Select(i => Record(i, runId: "run-1", decision: "allow")).ToArray();
        var tricky = Record(3000, runId: "run-1", decision: "deny");
        tricky.Message = "a \"quoted\", multi\nline message";
        tricky.Parameters["description"] = "=HYPERLINK(\"http://evil\")";
        foreach (var batch in records.Append(tricky).Chunk(1000))
        {
            await AuditIntakeTests.SubmitAsync(service, batch);
        }

        var jsonl = await ExportAsync(service, new ExportAuditRequest { RunId = "run-1" });
        var csv = await ExportAsync(service, new ExportAuditRequest { RunId = "run-1", Format = "csv" });
        var lines = jsonl.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var parser = new Google.Protobuf.JsonParser(Google.Protobuf.JsonParser.Settings.Default);

        Assert.Multiple(() =>
        {
            Assert.That(lines, Has.Length.EqualTo(3001));
            Assert.That(lines.Select(line => parser.Parse<AuditRecord>(line).RecordId), Is.EqualTo(Enumerable.Range(0, 3001).Select(Id)));
            Assert.That(csv, Does.StartWith("record_id,time,key_id,vendor,method,endpoint,decision,reason,message,estimated_usd,"));
            Assert.That(csv, Does.Contain($"{Id(0)},2026-03-10T12:00:00.000000Z,agent,stripe,POST,/v1/charges,allow,,,$10.00,"));
            Assert.That(csv, Does.Contain("\"a \"\"quoted\"\", multi\nline message\""), "quoted as RFC 4180 says");
            Assert.That(csv, Does.Contain("description='=HYPERLINK").Or.Contain("\"description=\"\"=HYPERLINK").Or.Contain("description==HYPERLINK"));
            Assert.That(csv.Split('\n', StringSplitOptions.RemoveEmptyEntries), Has.Length.EqualTo(3001 + 1 + 1), "a header, a line per record, one more for the line inside the quoted message");
        });
    }

    [Test]
    public async Task Unsettled_reservations_can_be_listed_older_than_a_moment()
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "100"));
        var held = await service.Budget.AuthorizeAsync(Authorize("agent", 10));

        var older = await service.Admin.ListUnsettledAsync(new ListUnsettledRequest { OlderThan = "2026-03-10T12:00:01Z" });
        var newer = await service.Admin.ListUnsettledAsync(new ListUnsettledRequest { OlderThan = "2026-03-10T11:59:59Z" });

        Assert.Multiple(() =>
        {
            Assert.That(older.Reservations.Select(r => r.ReservationId), Is.EqualTo(new[] { held.ReservationId }));
            Assert.That(newer.Reservations, Is.Empty);
        });
    }

    private static async Task<string> ExportAsync(TestService service, ExportAuditRequest request)
    {
        using var call = service.Admin.ExportAudit(request);
        var text = new StringBuilder();
        await foreach (var chunk in call.ResponseStream.ReadAllAsync())
        {
            text.Append(chunk.Data.ToStringUtf8());
        }

        return text.ToString();
    }

    private static long Seconds(int seconds) => seconds * 1_000_000L;

    private static string Time(long unixMicros) =>
        DateTimeOffset.UnixEpoch.AddTicks(unixMicros * 10).ToString("O", System.Globalization.CultureInfo.InvariantCulture);

    private static string Id(int i) => $"aud_{i:D5}";

    private static AuditRecord Record(int i, string runId, string decision)
    {
        var record = AuditIntakeTests.Record(Id(i));
        record.TimestampUnixMicros = s_noon + Seconds(i);
        record.RunId = runId;
        record.Decision = decision;
        return record;
    }
}
