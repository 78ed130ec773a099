using System.Text.Json;

namespace Keybrake.Client.Tests;

public sealed class JsonLinesAuditFileTests
{
    private string _directory = string.Empty;

    [SetUp]
    public void CreateDirectory() =>
        _directory = Directory.CreateTempSubdirectory("keybrake-audit-").FullName;

    [TearDown]
    public void DeleteDirectory() => Directory.Delete(_directory, recursive: true);

    [Test]
    public async Task Each_call_is_one_parseable_snake_case_JSON_line_once_the_provider_is_disposed()
    {
        var path = Path.Combine(_directory, "nested", "audit.jsonl");
        await using (var host = GuardHost.Start(policy => policy.DailyCap = Usd.FromDollars(5), options: o => o.Audit.FilePath = path))
        using (KeybrakeRun.Begin("run_file"))
        {
            using var first = await host.SpendAsync(300, idempotencyKey: "idem-file");
            using var second = await host.SpendAsync(300);
            using var client = host.Client();
            using var third = await client.GetAsync("/v1/items/it_1");
        } // disposing the provider drains the file sink

        var lines = await File.ReadAllLinesAsync(path);
        var records = lines.Select(line => JsonDocument.Parse(line).RootElement).ToList();
        var names = records[0].EnumerateObject().Select(p => p.Name).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(lines, Has.Length.EqualTo(3));
            Assert.That(records.Select(r => r.GetProperty("decision").GetString()), Is.EqualTo(new[] { "allow", "deny", "allow" }));
            Assert.That(records[0].GetProperty("key_id").GetString(), Is.EqualTo(GuardHost.KeyId));
            Assert.That(records[0].GetProperty("run_id").GetString(), Is.EqualTo("run_file"));
            Assert.That(records[0].GetProperty("estimated_micro_usd").GetInt64(), Is.EqualTo(3_000_000));
            Assert.That(records[0].GetProperty("settled_micro_usd").GetInt64(), Is.EqualTo(3_000_000));
            Assert.That(records[0].GetProperty("idempotency_key").GetString(), Is.EqualTo("idem-file"));
            Assert.That(records[1].GetProperty("reason").GetString(), Is.EqualTo(ReasonCodes.DailyCapExceeded));
            Assert.That(records[2].GetProperty("endpoint").GetString(), Is.EqualTo("/v1/items/{id}"));
            Assert.That(records.Select(r => r.GetProperty("host").GetString()), Is.All.EqualTo(GuardHost.BaseAddress.Host));
            Assert.That(names, Is.SupersetOf(new[] { "record_id", "timestamp", "key_id", "vendor", "http_status", "latency_microseconds" }));
            Assert.That(names, Has.All.Matches<string>(name => !name.Any(char.IsUpper)), "snake_case, not PascalCase");
        });
    }

    [Test]
    public async Task A_second_provider_appends_to_the_same_file()
    {
        var path = Path.Combine(_directory, "audit.jsonl");
        for (var i = 0; i < 2; i++)
        {
            await using (var host = GuardHost.Start(options: o => o.Audit.FilePath = path))
            {
                using var response = await host.SpendAsync(100);
            }
        }

        var lines = await File.ReadAllLinesAsync(path);
        Assert.That(lines, Has.Length.EqualTo(2));
    }
}
