using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;

namespace Keybrake.Client.Tests;

public sealed class GuardAuditTests
{
    [Test]
    public async Task An_allowed_call_writes_exactly_one_record_with_its_decision_key_run_estimate_and_settlement()
    {
        await using var host = GuardHost.Start();
        host.Vendor.RespondNext(HttpStatusCode.OK, """{"amount_cents":1100}""");

        using (KeybrakeRun.Begin("run_audit"))
        {
            using var response = await host.SpendAsync(1250, idempotencyKey: "idem-audit", extraFields: "recipient=r_secret_person");
        }

        var record = host.Audit.Records.Single();
        Assert.Multiple(() =>
        {
            Assert.That(record.Decision, Is.EqualTo("allow"));
            Assert.That(record.Reason, Is.Null);
            Assert.That(record.KeyId, Is.EqualTo(GuardHost.KeyId));
            Assert.That(record.Vendor, Is.EqualTo(TestVendorProfile.Name));
            Assert.That(record.RunId, Is.EqualTo("run_audit"));
            Assert.That(record.Method, Is.EqualTo("POST"));
            Assert.That(record.Endpoint, Is.EqualTo("/v1/spend"));
            Assert.That(record.EstimatedMicroUsd, Is.EqualTo(12_500_000));
            Assert.That(record.Settlement, Is.EqualTo("commit"));
            Assert.That(record.SettledMicroUsd, Is.EqualTo(11_000_000));
            Assert.That(record.HttpStatus, Is.EqualTo(200));
            Assert.That(record.IdempotencyKey, Is.EqualTo("idem-audit"));
            Assert.That(record.ReservationId, Does.StartWith("rsv_"));
            Assert.That(record.RecordId, Does.StartWith("aud_"));
            Assert.That(record.Timestamp, Is.EqualTo(host.Time.GetUtcNow()));
            Assert.That(record.Parameters, Is.EquivalentTo(new Dictionary<string, string>
            {
                ["amount_cents"] = "1250",
                ["recipient"] = VendorCall.RedactedValue,
            }));
        });
    }

    [Test]
    public async Task A_denied_call_writes_exactly_one_record_with_the_reason_and_no_settlement()
    {
        await using var host = GuardHost.Start(policy => policy.DailyCap = Usd.FromDollars(1));

        using (KeybrakeRun.Begin("run_denied"))
        {
            using var response = await host.SpendAsync(500);
        }

        var record = host.Audit.Records.Single();
        Assert.Multiple(() =>
        {
            Assert.That(record.Decision, Is.EqualTo("deny"));
            Assert.That(record.Reason, Is.EqualTo(ReasonCodes.DailyCapExceeded));
            Assert.That(record.KeyId, Is.EqualTo(GuardHost.KeyId));
            Assert.That(record.RunId, Is.EqualTo("run_denied"));
            Assert.That(record.EstimatedMicroUsd, Is.EqualTo(5_000_000));
            Assert.That(record.Settlement, Is.Null);
            Assert.That(record.SettledMicroUsd, Is.Null);
            Assert.That(record.ReservationId, Is.Null);
            Assert.That(record.HttpStatus, Is.EqualTo(402));
            Assert.That(record.Message, Does.Contain("daily cap of $1.00"));
        });
    }

    [Test]
    public async Task A_read_is_audited_with_no_estimate_and_no_settlement()
    {
        await using var host = GuardHost.Start();
        using var client = host.Client();

        using var response = await client.GetAsync("/v1/items/it_1");

        var record = host.Audit.Records.Single();
        Assert.Multiple(() =>
        {
            Assert.That(record.Endpoint, Is.EqualTo("/v1/items/{id}"));
            Assert.That(record.EstimatedMicroUsd, Is.Zero);
            Assert.That(record.Settlement, Is.Null);
            Assert.That(record.ReservationId, Is.Null);
            Assert.That(record.RunId, Is.Null);
        });
    }

    [Test]
    public async Task A_request_with_an_unknown_brake_key_is_audited_with_an_empty_key_id()
    {
        await using var host = GuardHost.Start();
        using var client = host.Client();
        client.DefaultRequestHeaders.Authorization = new("Bearer", "vault_key_never_issued_to_anyone_000");

        using var response = await client.GetAsync("/v1/items/it_1");

        var record = host.Audit.Records.Single();
        Assert.Multiple(() =>
        {
            Assert.That(record.KeyId, Is.Empty);
            Assert.That(record.Reason, Is.EqualTo(ReasonCodes.KeyUnknown));
        });
    }

    [Test]
    public async Task Ten_calls_write_ten_records_and_none_carries_the_secret_or_the_brake_key()
    {
        await using var host = GuardHost.Start(policy => policy.DailyCap = Usd.FromDollars(5));

        for (var i = 0; i < 10; i++)
        {
            using var response = await host.SpendAsync(100);
        }

        var records = host.Audit.Records;
        var json = JsonSerializer.Serialize(records);
        Assert.Multiple(() =>
        {
            Assert.That(records, Has.Count.EqualTo(10));
            Assert.That(records.Count(r => r.Decision == "allow"), Is.EqualTo(5));
            Assert.That(records.Select(r => r.RecordId).Distinct().Count(), Is.EqualTo(10));
            Assert.That(json, Does.Not.Contain(GuardHost.VendorSecret));
            Assert.That(json, Does.Not.Contain(GuardHost.BrakeKey));
        });
    }

    [Test]
    public async Task A_failing_audit_sink_never_fails_the_call()
    {
        var vendor = new FakeVendorHandler();
        await using var keybrake = KeybrakeGuard.Create(k => k
            .Configure(o => o.AddKey("agent", OptionsValidationTests.ValidKey))
            .AddVendor<TestVendorProfile>()
            .AddAuditSink(new ThrowingAuditSink()));
        using var client = keybrake.CreateHttpClient(TestVendorProfile.Name, vendor);
        client.DefaultRequestHeaders.Authorization = new("Bearer", "vault_key_" + new string('0', 16));
        client.BaseAddress = GuardHost.BaseAddress;

        using var response = await client.SendAsync(GuardHost.SpendRequest(100));

        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(vendor.Received, Has.Count.EqualTo(1));
        });
    }

    private sealed class ThrowingAuditSink : IAuditSink
    {
        public ValueTask WriteAsync(AuditRecord record, CancellationToken cancellationToken) =>
            throw new IOException("the audit store is down");
    }
}
