using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Keybrake.BudgetService.Telemetry;

/// <summary>
/// The audit outbox backlog each client last reported with SubmitAudit, for the <c>keybrake.outbox.backlog</c> gauge.
/// Several processes sharing one credential report in turn: the gauge shows the latest figure. A client that stopped
/// reporting keeps its last figure until this replica restarts.
/// </summary>
internal sealed class OutboxBacklogs
{
    private readonly ConcurrentDictionary<string, long> _byClient = new(StringComparer.Ordinal);

    public void Report(string clientId, long backlog)
    {
        // 0 is also what an older guard sends (it reports nothing): an emptied outbox reads the same either way.
        _byClient[clientId] = Math.Max(0, backlog);
    }

    public IEnumerable<Measurement<long>> Observe() =>
        _byClient.Select(entry => new Measurement<long>(entry.Value, new KeyValuePair<string, object?>("client", entry.Key)));
}
