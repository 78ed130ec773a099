using Keybrake.Client.TestUtilities;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Client.TestUtilities.Outbox;
using Keybrake.Client.TestUtilities.Stripe;
using static Keybrake.Client.Stripe.Tests.SharedCapAcrossProcessesTests;

namespace Keybrake.Client.Stripe.Tests;

/// <summary>
/// Agent processes configured with one <c>OutboxPath</c> (as with the default, in one working directory) each
/// write a file of their own, so no call waits on another process's write lock; what a killed process left is
/// shipped by a process started later, and reaches the service once.
/// </summary>
[NonParallelizable]
public sealed class OutboxPerProcessTests
{
    [Test]
    public async Task Two_agents_configured_with_one_outbox_path_write_to_files_of_their_own()
    {
        using var stub = StripeStub.Start();
        await using var service = await BudgetServiceProcess.StartAsync(BudgetServiceHost.Key(KeyId, "100"));
        var outbox = Path.Combine(service.Directory, "keybrake-audit-outbox.db");
        var running = new List<AgentProcess>();
        try
        {
            var agents = await AgentProcess.StartTogetherAsync(
                Enumerable.Range(0, 2).Select(i => (Func<Task<AgentProcess>>)(() => AgentProcess.StartWithOutboxAsync(
                    service.Address, stub.Url, KeyId, service.Directory, outbox, $"own-file-agent{i}", seed: i, "--tasks", "2", "--charges", "3"))),
                running);

            // With the service down nothing ships: every record stays in the file its agent wrote.
            await service.KillAsync();
            var reports = await Task.WhenAll(agents.Select(a => a.FinishAsync()));
            var files = OutboxFileSet.Files(outbox);

            Assert.Multiple(() =>
            {
                Assert.That(reports.Select(r => r.DeniedFor(ReasonCodes.BudgetServiceUnavailable)), Is.All.EqualTo(6));
                Assert.That(files, Has.Count.EqualTo(2), "one file per agent");
                Assert.That(files.Select(Denials), Is.All.EqualTo(6), "each agent's six denials, in its own file");
                Assert.That(File.Exists(outbox), Is.False, "no agent writes the configured path itself");
            });
        }
        finally
        {
            await Task.WhenAll(running.Select(a => a.DisposeAsync().AsTask()));
        }
    }

    [Test]
    public async Task Records_of_an_agent_killed_with_them_in_its_outbox_are_shipped_once_by_an_agent_started_later()
    {
        using var stub = StripeStub.Start();
        await using var service = await BudgetServiceProcess.StartAsync(BudgetServiceHost.Key(KeyId, "100"));
        var outbox = Path.Combine(service.Directory, "keybrake-audit-outbox.db");
        await using var killed = await AgentProcess.StartWithOutboxAsync(
            service.Address, stub.Url, KeyId, service.Directory, outbox, "killed-with-records", seed: 0, "--tasks", "1", "--charges", "3");
        await service.KillAsync();
        await killed.GoAsync();
        await Poll.UntilAsync(() => killed.WaitingInOutbox(ReasonCodes.BudgetServiceUnavailable), count => count >= 3);
        await killed.KillAsync();
        var leftBehind = OutboxFileSet.Payloads(outbox).Select(p => Protocol.AuditRecord.Parser.ParseFrom(p).RecordId).ToList();
        var leftFiles = OutboxFileSet.Files(outbox);
        // Its warm-up, if shipped before the service went down (and still in the outbox, if killed before the delete).
        var killedRecords = BudgetStoreFile.ReadAudit(service.StoragePath).Select(r => r.RecordId).Union(leftBehind).Count();

        await service.RestartAsync();
        await using var later = await AgentProcess.StartWithOutboxAsync(
            service.Address, stub.Url, KeyId, service.Directory, outbox, "started-later", seed: 1, "--tasks", "1", "--charges", "1");
        await later.GoAsync();
        var report = await later.FinishAsync();
        var audit = await Poll.UntilAsync(() => BudgetStoreFile.ReadAudit(service.StoragePath), records => records.Count >= killedRecords + report.WarmUps + report.Calls);

        Assert.Multiple(() =>
        {
            Assert.That(leftBehind, Has.Count.GreaterThanOrEqualTo(3), "the killed agent's denials (and perhaps its warm-up) were in its outbox");
            Assert.That(leftFiles, Has.Count.EqualTo(1));
            Assert.That(report.Allowed, Is.EqualTo(1));
            Assert.That(audit.Select(r => r.RecordId), Is.Unique, "every record arrived once");
            Assert.That(audit.Select(r => r.RecordId), Is.SupersetOf(leftBehind), "the killed agent's records arrived");
            Assert.That(audit, Has.Count.EqualTo(killedRecords + report.WarmUps + report.Calls), "and the later agent's own, nothing more");
            Assert.That(OutboxFileSet.Files(outbox), Is.Empty, "the shipped leftover was deleted, and the later agent deleted its own file as it stopped");
        });
    }

    /// <summary>The <c>budget_service_unavailable</c> records waiting in one outbox file.</summary>
    private static int Denials(string file) =>
        OutboxFileSet.Payloads(file).Count(p => Protocol.AuditRecord.Parser.ParseFrom(p).Reason == ReasonCodes.BudgetServiceUnavailable);
}
