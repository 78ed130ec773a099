using Grpc.Core;
using Keybrake.Client.TestUtilities;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Protocol;
using Microsoft.Extensions.DependencyInjection;

namespace Keybrake.Client.Tests;

/// <summary>The guard tells the service how many audit records still wait in its outbox behind each batch it ships.</summary>
public sealed class OutboxBacklogReportTests
{
    [Test]
    public async Task A_drain_after_an_outage_reports_what_waits_behind_each_batch_down_to_zero()
    {
        var reports = new SubmitAuditReports();
        await using var service = await BudgetServiceHost.StartAsync(
            BudgetServiceHost.Key(CentralGuardHost.KeyId, "100", vendor: TestVendorProfile.Name),
            configure: builder => builder.Services.AddGrpc(grpc => grpc.Interceptors.Add<SubmitAuditReports.Interceptor>(reports)));
        // No retries: a ship the outage refuses gives its batch back at once, rather than deliver it after the restart.
        await using var host = CentralGuardHost.Start(service.Address, budgetService: o => o.MaxRetries = 0);
        await service.StopAsync();

        // 520 records, written while the service is down: more than one batch (500) waits in the file.
        for (var i = 0; i < 520; i++)
        {
            await host.Outbox.WriteAsync(
                new AuditRecord { RecordId = $"rec_backlog_{i:D4}", Timestamp = DateTimeOffset.UtcNow, KeyId = CentralGuardHost.KeyId, Vendor = TestVendorProfile.Name, Method = "GET", Endpoint = "/v1/items", Decision = "allow" },
                CancellationToken.None);
        }

        // A ship claimed while the records were being written has given its batch back (the outage refused it): every
        // ship from here on finds all 520 waiting.
        await Poll.UntilAsync(() => ClaimedRows(host.Outbox.Path), claimed => claimed == 0);

        await using var restarted = await BudgetServiceHost.StartAsync(
            BudgetServiceHost.Key(CentralGuardHost.KeyId, "100", vendor: TestVendorProfile.Name),
            service.Directory,
            service.Address.Port,
            configure: builder => builder.Services.AddGrpc(grpc => grpc.Interceptors.Add<SubmitAuditReports.Interceptor>(reports)));
        var shipped = await Poll.UntilAsync(() => reports.Batches, batches => batches.Sum(batch => batch.Records) >= 520);

        Assert.That(shipped, Is.EqualTo(new[] { (500, 20L), (20, 0L) }));
    }

    private static long ClaimedRows(string outboxPath)
    {
        using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={outboxPath};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM outbox WHERE claimed_by IS NOT NULL";
        return (long)command.ExecuteScalar()!;
    }

    /// <summary>The batches the service took: records, and the backlog the guard reported behind them.</summary>
    private sealed class SubmitAuditReports
    {
        private readonly Lock _gate = new();
        private readonly List<(int Records, long Backlog)> _batches = [];

        public IReadOnlyList<(int Records, long Backlog)> Batches
        {
            get
            {
                lock (_gate)
                {
                    return [.. _batches];
                }
            }
        }

        public sealed class Interceptor(SubmitAuditReports reports) : Grpc.Core.Interceptors.Interceptor
        {
            public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
            {
                var response = await continuation(request, context);
                if (request is SubmitAuditRequest audit)
                {
                    lock (reports._gate)
                    {
                        reports._batches.Add((audit.Records.Count, audit.OutboxBacklog));
                    }
                }

                return response;
            }
        }
    }
}
