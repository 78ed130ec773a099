using Grpc.Core;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Protocol;
using Microsoft.Extensions.Time.Testing;

namespace Keybrake.BudgetService.Tests;

/// <summary>Runs on both store engines.</summary>
[TestFixture(StoreEngine.Sqlite)]
[TestFixture(StoreEngine.PostgreSql)]
public sealed class AuditIntakeTests(StoreEngine engine)
{
    [Test]
    public async Task Each_record_is_stored_once_by_record_id()
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "100"));

        var first = await SubmitAsync(service, Record("aud_1"), Record("aud_2"), Record("aud_3"));
        var again = await SubmitAsync(service, Record("aud_1"), Record("aud_2"), Record("aud_3"));
        var mixed = await SubmitAsync(service, Record("aud_2"), Record("aud_4"), Record("aud_4"));

        var stored = await StoreFile.CountAsync(service, "SELECT COUNT(*) FROM audit_record");
        Assert.Multiple(() =>
        {
            Assert.That((first.Stored, first.Duplicates), Is.EqualTo((3, 0)));
            Assert.That((again.Stored, again.Duplicates), Is.EqualTo((0, 3)));
            Assert.That((mixed.Stored, mixed.Duplicates), Is.EqualTo((1, 2)), "a record repeated within one batch is stored once too");
            Assert.That(stored, Is.EqualTo(4));
        });
    }

    [Test]
    public async Task A_record_is_stored_whole_with_its_searchable_columns()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 3, 10, 12, 0, 0, TimeSpan.Zero));
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "100"), time);
        var record = Record("aud_1");
        record.RunId = "run-1";
        record.Reason = "daily_cap_exceeded";
        record.Decision = "deny";
        record.TimestampUnixMicros = new DateTimeOffset(2026, 3, 10, 11, 59, 0, TimeSpan.Zero).ToUnixTimeMilliseconds() * 1000;
        record.Parameters["customer"] = "cus_123";
        record.Host = "api.stripe.com";

        await SubmitAsync(service, record);

        var columns = await StoreFile.ScalarAsync(
            service,
            "SELECT key_id || '|' || vendor || '|' || run_id || '|' || decision || '|' || reason || '|' || timestamp || '|' || received_at || '|' || host FROM audit_record WHERE record_id = 'aud_1'");
        var json = (string?)await StoreFile.ScalarAsync(service, "SELECT record FROM audit_record WHERE record_id = 'aud_1'");
        Assert.Multiple(() =>
        {
            Assert.That(columns, Is.EqualTo($"agent|stripe|run-1|deny|daily_cap_exceeded|{record.TimestampUnixMicros / 1000}|{time.GetUtcNow().ToUnixTimeMilliseconds()}|api.stripe.com"));
            Assert.That(json, Does.Contain("\"customer\": \"cus_123\"").And.Contain("\"endpoint\": \"/v1/charges\"").And.Contain("\"host\": \"api.stripe.com\""));
        });
    }

    [TestCase("", "records.record_id is required")]
    [TestCase(null, "records.record_id is longer than 256 characters")]
    public async Task A_batch_with_a_bad_record_id_is_rejected_whole(string? recordId, string message)
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "100"));

        var bad = Assert.ThrowsAsync<RpcException>(() => SubmitAsync(service, Record("aud_ok"), Record(recordId ?? new string('r', 257))));
        var retried = await SubmitAsync(service, Record("aud_ok"));

        Assert.Multiple(() =>
        {
            Assert.That((bad!.StatusCode, bad.Status.Detail), Is.EqualTo((StatusCode.InvalidArgument, message)));
            Assert.That(retried.Stored, Is.EqualTo(1), "the good record in the rejected batch was not stored");
        });
    }

    [Test]
    public async Task A_record_without_a_decision_is_rejected()
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "100"));
        var record = Record("aud_1");
        record.Decision = "";

        var bad = Assert.ThrowsAsync<RpcException>(() => SubmitAsync(service, record));

        Assert.That((bad!.StatusCode, bad.Status.Detail), Is.EqualTo((StatusCode.InvalidArgument, "records.decision is required")));
    }

    [TestCase(long.MaxValue, TestName = "A timestamp whose tick count would wrap")]
    [TestCase(long.MinValue, TestName = "The most negative timestamp")]
    [TestCase(300_000_000_000_000_000, TestName = "A timestamp past the year 9999")]
    public async Task A_record_with_an_absurd_timestamp_is_rejected_and_the_service_goes_on(long timestampUnixMicros)
    {
        await using var service = await TestService.StartAsync(engine, BudgetServiceHost.Key("agent", "100"));
        var record = Record("aud_1");
        record.TimestampUnixMicros = timestampUnixMicros;

        var bad = Assert.ThrowsAsync<RpcException>(() => SubmitAsync(service, record));
        var good = await SubmitAsync(service, Record("aud_2"));

        Assert.Multiple(() =>
        {
            Assert.That(bad!.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));
            Assert.That(bad.Status.Detail, Does.Contain("records.timestamp_unix_micros"));
            Assert.That(good.Stored, Is.EqualTo(1));
        });
    }

    internal static AuditRecord Record(string recordId) => new()
    {
        RecordId = recordId,
        TimestampUnixMicros = 1_773_000_000_000_000,
        KeyId = "agent",
        Vendor = "stripe",
        Method = "POST",
        Endpoint = "/v1/charges",
        EstimatedMicroUsd = 10_000_000,
        Decision = "allow",
    };

    internal static async Task<SubmitAuditReply> SubmitAsync(TestService service, params AuditRecord[] records)
    {
        var request = new SubmitAuditRequest();
        request.Records.AddRange(records);
        return await service.Budget.SubmitAuditAsync(request);
    }
}
