using Keybrake.BudgetService.Hosting;
using Keybrake.Client.TestUtilities;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Client.TestUtilities.Logging;
using Microsoft.Extensions.Logging;

namespace Keybrake.BudgetService.Tests.Replicas;

/// <summary>Periodic work on PostgreSQL runs once per cluster and cycle, not once per replica.</summary>
public sealed class ClusterDutyTests
{
    private const int Runs = 285;
    private const int Skips = 286;

    [Test]
    public async Task Two_replicas_prune_once_between_them_in_a_cycle()
    {
        var settings = TestService.Settings(BudgetServiceHost.Key("agent", "100"), new Dictionary<string, string?> { ["Logging:LogLevel:Keybrake.BudgetService.Replicas"] = "Information" });
        using var logsA = new CapturingLoggerProvider();
        using var logsB = new CapturingLoggerProvider();

        // Both replicas prune when they start, then hourly; their clocks (fakes) stand at the same moment.
        await using var a = await TestService.StartAsync(StoreEngine.PostgreSql, settings, configure: builder => builder.Logging.AddProvider(logsA));
        var aPruned = await Poll.UntilAsync(() => Duty(logsA), events => events.Count > 0);
        await using var b = await Replica.AlongsideAsync(a, settings, configure: builder => builder.Logging.AddProvider(logsB));
        var bPruned = await Poll.UntilAsync(() => Duty(logsB), events => events.Count > 0);

        Assert.Multiple(() =>
        {
            Assert.That(aPruned, Is.EqualTo(new[] { Runs }), "the first replica runs the cycle's pruning");
            Assert.That(bPruned, Is.EqualTo(new[] { Skips }), "the second finds it done for this cycle");
        });
    }

    /// <summary>The event ids of the prune duty's runs and skips logged so far.</summary>
    private static List<int> Duty(CapturingLoggerProvider logs) =>
        logs.Logs.Where(log => log.EventId.Id is Runs or Skips && log.Message.Contains($"'{StoreMaintenance.PruneDuty}'", StringComparison.Ordinal)).Select(log => log.EventId.Id).ToList();
}
