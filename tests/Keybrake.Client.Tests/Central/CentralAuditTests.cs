using Keybrake.Client.TestUtilities;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Client.TestUtilities.Outbox;
using static Keybrake.Client.Tests.CentralGuardHost;

namespace Keybrake.Client.Tests;

public sealed class CentralAuditTests
{
    [Test]
    public async Task Every_call_s_audit_record_reaches_the_service_exactly_once()
    {
        await using var service = await CentralGuardHost.StartServiceAsync(dailyCap: "100");
        await using var host = CentralGuardHost.Start(service.Address);

        using (await host.SpendAsync(6_000))
        using (await host.SpendAsync(5_000))
        using (await host.ReadAsync())
        using (await host.SpendAsync(4_000))
        {
        }

        var atService = await Poll.UntilAsync(() => BudgetStoreFile.ReadAudit(service.StoragePath), records => records.Count >= 4);
        var outboxEmpty = await Poll.UntilAsync(() => host.Outbox.Count(), count => count == 0);
        Assert.Multiple(() =>
        {
            Assert.That(atService.Select(r => r.RecordId), Is.EquivalentTo(host.Audit.Records.Select(r => r.RecordId)));
            Assert.That(atService.Select(r => r.Decision), Is.EquivalentTo(new[] { "allow", "deny", "allow", "allow" }));
            Assert.That(atService.Single(r => r.Decision == "deny").Reason, Is.EqualTo(ReasonCodes.DailyCapExceeded));
            Assert.That(atService.Select(r => r.KeyId), Is.All.EqualTo(CentralGuardHost.KeyId));
            Assert.That(atService.Select(r => r.Host), Is.All.EqualTo(CentralGuardHost.BaseAddress.Host), "the host each call was addressed to");
            Assert.That(outboxEmpty, Is.Zero, "shipped records leave the outbox");
        });
    }

    [Test]
    public async Task Records_written_during_an_outage_wait_in_the_outbox_and_ship_once_the_service_returns()
    {
        await using var service = await CentralGuardHost.StartServiceAsync();
        await using var host = CentralGuardHost.Start(service.Address);
        await service.StopAsync();

        using (await host.SpendAsync(100))
        using (await host.ReadAsync())
        using (await host.SpendAsync(200))
        {
        }

        var waiting = host.Outbox.Count();
        await using var restarted = await CentralGuardHost.StartServiceAsync(directory: service.Directory, port: service.Address.Port);
        var atService = await Poll.UntilAsync(() => BudgetStoreFile.ReadAudit(service.StoragePath), records => records.Count >= 3);
        var outboxAfter = await Poll.UntilAsync(() => host.Outbox.Count(), count => count == 0);

        Assert.Multiple(() =>
        {
            Assert.That(waiting, Is.EqualTo(3), "each record is in the outbox file before its call returns");
            Assert.That(atService.Select(r => r.RecordId), Is.EquivalentTo(host.Audit.Records.Select(r => r.RecordId)));
            Assert.That(atService.Where(r => r.Decision == "deny").Select(r => r.Reason), Is.All.EqualTo(ReasonCodes.BudgetServiceUnavailable));
            Assert.That(outboxAfter, Is.Zero);
        });
    }

    [Test]
    public async Task Records_left_by_a_process_that_stopped_during_an_outage_are_shipped_by_the_next_one_sharing_the_outbox()
    {
        await using var service = await CentralGuardHost.StartServiceAsync();
        var outboxPath = Path.Combine(service.Directory, "shared-outbox.db");
        string[] firstProcessRecords;
        await service.StopAsync();
        await using (var first = CentralGuardHost.Start(service.Address, outboxPath: outboxPath, budgetService: o => o.MaxRetries = 0))
        {
            using (await first.SpendAsync(100))
            using (await first.SpendAsync(200))
            {
            }

            firstProcessRecords = [.. first.Audit.Records.Select(r => r.RecordId)];
        }

        var leftBehind = OutboxFileSet.Records(outboxPath);
        await using var restarted = await CentralGuardHost.StartServiceAsync(directory: service.Directory, port: service.Address.Port);
        await using var next = CentralGuardHost.Start(service.Address, outboxPath: outboxPath);
        using (await next.ReadAsync())
        {
        }

        var atService = await Poll.UntilAsync(() => BudgetStoreFile.ReadAudit(service.StoragePath), records => records.Count >= 3);

        Assert.Multiple(() =>
        {
            Assert.That(leftBehind, Is.EqualTo(2), "the stopping process could not ship, so the file keeps its records");
            Assert.That(atService.Select(r => r.RecordId), Is.EquivalentTo(firstProcessRecords.Concat(next.Audit.Records.Select(r => r.RecordId))));
        });
    }

    [Test]
    public async Task Disposing_while_a_batch_is_being_shipped_neither_throws_nor_strands_the_batch()
    {
        await using var service = await CentralGuardHost.StartServiceAsync();
        var outboxPath = Path.Combine(service.Directory, "shared-outbox.db");
        string recordId;
        await using (var first = CentralGuardHost.Start(service.Address, outboxPath: outboxPath, budgetService: o =>
        {
            o.CallTimeout = TimeSpan.FromSeconds(30);
            o.MaxRetries = 0;
        }))
        {
            var shipping = first.Wire.HangNext(BudgetServiceWire.SubmitAudit);
            using (await first.SpendAsync(100))
            {
            }

            await shipping;
            recordId = first.Audit.Records.Single().RecordId;
            Assert.That(async () => await first.Services.DisposeAsync(), Throws.Nothing);
        }

        var claimed = OutboxFileSet.Claimed(outboxPath);
        await using var next = CentralGuardHost.Start(service.Address, outboxPath: outboxPath);
        using (await next.ReadAsync())
        {
        }

        var atService = await Poll.UntilAsync(() => BudgetStoreFile.ReadAudit(service.StoragePath), records => records.Count >= 2);

        Assert.Multiple(() =>
        {
            Assert.That(claimed, Is.Zero, "no record is left claimed by a process that is gone");
            Assert.That(atService.Select(r => r.RecordId), Is.EquivalentTo(next.Audit.Records.Select(r => r.RecordId).Append(recordId)));
        });
    }

    [Test]
    public async Task A_provider_disposed_synchronously_in_central_mode_leaves_its_records_for_the_next_process()
    {
        await using var service = await CentralGuardHost.StartServiceAsync();
        var outboxPath = Path.Combine(service.Directory, "shared-outbox.db");
        await service.StopAsync();
        await using var first = CentralGuardHost.Start(service.Address, outboxPath: outboxPath, budgetService: o => o.MaxRetries = 0);
        using (var response = await first.SpendAsync(100))
        {
            Assert.That(DecisionOf(response), Is.EqualTo(ReasonCodes.BudgetServiceUnavailable));
        }

        Assert.That(() => first.Services.Dispose(), Throws.Nothing);
        await using var restarted = await CentralGuardHost.StartServiceAsync(directory: service.Directory, port: service.Address.Port);
        await using var next = CentralGuardHost.Start(service.Address, outboxPath: outboxPath);
        using (await next.ReadAsync())
        {
        }

        var atService = await Poll.UntilAsync(() => BudgetStoreFile.ReadAudit(service.StoragePath), records => records.Count >= 2);

        Assert.That(atService.Select(r => r.RecordId), Is.EquivalentTo(first.Audit.Records.Concat(next.Audit.Records).Select(r => r.RecordId)));
    }

    [Test]
    public async Task Disposing_the_guard_right_after_a_burst_ships_every_settlement_and_audit_record_still_waiting_for_its_batch()
    {
        await using var service = await CentralGuardHost.StartServiceAsync(dailyCap: "1000");
        var outboxPath = Path.Combine(service.Directory, "burst-outbox.db");
        string[] recordIds;
        await using (var host = CentralGuardHost.Start(service.Address, outboxPath: outboxPath))
        {
            // Settlements linger for company and audit records wait for the shipper's timer: disposal must not wait
            // for either, and must leave nothing behind.
            var calls = await Task.WhenAll(Enumerable.Range(1, 24).Select(i => host.SpendAsync(i * 100)));
            foreach (var call in calls)
            {
                call.Dispose();
            }

            recordIds = [.. host.Audit.Records.Select(r => r.RecordId)];
        }

        var reservations = BudgetStoreFile.ReadReservations(service.StoragePath);
        var atService = BudgetStoreFile.ReadAudit(service.StoragePath);
        Assert.Multiple(() =>
        {
            Assert.That(reservations, Has.Count.EqualTo(24));
            Assert.That(reservations.Select(r => r.State), Is.All.EqualTo("committed"));
            Assert.That(reservations.Sum(r => r.ActualMicroUsd), Is.EqualTo(Usd.FromDollars(300).Micros), "$1 + $2 + ... + $24");
            Assert.That(atService.Select(r => r.RecordId), Is.EquivalentTo(recordIds));
            Assert.That(recordIds, Has.Length.EqualTo(24));
            Assert.That(OutboxFileSet.Records(outboxPath), Is.Zero);
        });
    }

    [Test]
    public async Task An_outbox_left_with_refused_records_and_set_aside_settlements_is_kept_by_the_process_that_ships_the_leftovers()
    {
        await using var service = await CentralGuardHost.StartServiceAsync();
        var outboxPath = Path.Combine(service.Directory, "shared-outbox.db");
        string firstFile;
        await using (var first = CentralGuardHost.Start(service.Address, outboxPath: outboxPath))
        {
            first.Wire.Refuse(BudgetServiceWire.Settle, Grpc.Core.StatusCode.PermissionDenied, count: 100);
            first.Wire.Refuse(BudgetServiceWire.SubmitAudit, Grpc.Core.StatusCode.PermissionDenied, count: 100);
            using (await first.SpendAsync(100))
            {
            }

            await Poll.UntilAsync(() => first.Ledger.Settlements.SetAside, count => count >= 1);
            await Poll.UntilAsync(() => first.Logs.Logs.Count(l => l.Message.Contains("refused", StringComparison.Ordinal) && l.Message.Contains(first.Outbox.Path, StringComparison.Ordinal)), count => count >= 1);
            firstFile = first.Outbox.Path;
        }

        // The first process is gone and its file holds nothing to ship: the next one, shipping leftovers at its
        // start, must not delete what the service refused.
        await using (var next = CentralGuardHost.Start(service.Address, outboxPath: outboxPath))
        {
            using (await next.ReadAsync())
            {
            }

            await Poll.UntilAsync(() => next.Logs.Logs.Count(l => l.Message.Contains(firstFile, StringComparison.Ordinal) && l.Message.Contains("stays for an operator", StringComparison.Ordinal)), count => count >= 1);
        }

        Assert.Multiple(() =>
        {
            Assert.That(File.Exists(firstFile), Is.True, "the file with refused rows is kept");
            Assert.That(OutboxFileSet.Files(outboxPath), Is.EqualTo(new[] { firstFile }), "the next process deleted its own file, empty, as it stopped");
            Assert.That(OutboxFileSet.SetAside(outboxPath), Is.EqualTo(1), "the refused settlement is still set aside");
            Assert.That(OutboxFileSet.Records(outboxPath), Is.EqualTo(1), "the refused audit record is still there");
        });
    }

    [Test]
    public async Task Two_guards_configured_with_one_outbox_path_write_files_of_their_own()
    {
        await using var service = await CentralGuardHost.StartServiceAsync();
        var outboxPath = Path.Combine(service.Directory, "shared-outbox.db");
        await using var first = CentralGuardHost.Start(service.Address, outboxPath: outboxPath);
        await using var second = CentralGuardHost.Start(service.Address, outboxPath: outboxPath);

        Assert.Multiple(() =>
        {
            Assert.That(first.Outbox.Path, Is.Not.EqualTo(second.Outbox.Path));
            Assert.That(Path.GetDirectoryName(first.Outbox.Path), Is.EqualTo(service.Directory));
            Assert.That(OutboxFileSet.Files(outboxPath), Is.EquivalentTo(new[] { first.Outbox.Path, second.Outbox.Path }));
            Assert.That(File.Exists(outboxPath), Is.False, "nothing writes the configured path itself");
        });
    }
}
