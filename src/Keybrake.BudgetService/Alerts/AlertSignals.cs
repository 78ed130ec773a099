using System.Threading.Channels;
using Keybrake.BudgetService.Keys;
using Keybrake.BudgetService.Store;

namespace Keybrake.BudgetService.Alerts;

/// <summary>Something the evaluator looks at after the call that caused it has answered.</summary>
internal abstract record AlertSignal;

/// <summary>A key's spend moved; the amounts are <see langword="null"/> when the evaluator reads them from the store.</summary>
internal sealed record SpendSignal(string KeyId, string? RunId, DateTimeOffset At, long? DaySpentMicroUsd, long? RunSpentMicroUsd) : AlertSignal;

/// <summary>LLM spend was counted for a run (LiteLLM's spend logs): the keys whose run cap includes it are evaluated again.</summary>
internal sealed record LlmSpendSignal(string RunId, DateTimeOffset At) : AlertSignal;

/// <summary>An operator revoked or restored a key.</summary>
internal sealed record KeyRevocationSignal(string KeyId, bool Revoked, DateTimeOffset At) : AlertSignal;

/// <summary>A guard audited a denial for one of the burst reasons.</summary>
internal sealed record DenialSignal(string KeyId, string Reason, DateTimeOffset At) : AlertSignal;

/// <summary>
/// The hand-off from the RPCs to <see cref="AlertEvaluator"/>: a bounded channel written without waiting, so that no
/// call waits for an alert. When the evaluator falls behind, signals are dropped and counted; a later signal of the same
/// key carries (or reads) its spend again, so a crossing is still seen, later.
/// </summary>
internal sealed class AlertSignals
{
    private readonly Channel<AlertSignal> _channel = Channel.CreateBounded<AlertSignal>(new BoundedChannelOptions(10_000)
    {
        FullMode = BoundedChannelFullMode.DropWrite,
        SingleReader = true,
    });

    private readonly HashSet<string> _burstReasons;
    private readonly bool _bursts;
    private long _dropped;

    public AlertSignals(Microsoft.Extensions.Options.IOptions<AlertOptions> options)
    {
        _burstReasons = options.Value.EffectiveBurstReasons.ToHashSet(StringComparer.Ordinal);
        _bursts = options.Value.BurstCount > 0;
    }

    public ChannelReader<AlertSignal> Reader => _channel.Reader;

    /// <summary>Signals dropped because the evaluator was behind, since the last call.</summary>
    public long TakeDropped() => Interlocked.Exchange(ref _dropped, 0);

    /// <summary>A reservation was made: the outcome carries the day's and the run's spend with it.</summary>
    public void Authorized(ServiceKey key, string? runId, DateTimeOffset now, AuthorizeOutcome outcome)
    {
        if (outcome.Status == AuthorizeStatus.Reserved)
        {
            Write(new SpendSignal(key.Id, runId, now, outcome.DaySpentMicroUsd, runId is null ? null : outcome.RunSpentMicroUsd));
        }
    }

    /// <summary>
    /// Settlements: only a commit above its estimate raises spend (a release or a lower price lowers it), so only those
    /// have the evaluator read the key's day again from the store; a run past its cap comes with the overrun.
    /// </summary>
    public void Settled(IReadOnlyList<SettleCommand> commands, IReadOnlyList<SettleResult> results, DateTimeOffset now)
    {
        HashSet<string>? raised = null;
        for (var i = 0; i < results.Count && i < commands.Count; i++)
        {
            if (results[i] is { Status: SettleStatus.Settled, KeyId: { } keyId } result && commands[i].Commit && commands[i].ActualMicroUsd > result.EstimateMicroUsd)
            {
                (raised ??= new HashSet<string>(StringComparer.Ordinal)).Add(keyId);
            }
        }

        foreach (var keyId in raised ?? [])
        {
            Write(new SpendSignal(keyId, null, now, null, null));
        }

        foreach (var overrun in results.SelectMany(result => result.Overruns ?? []).Where(overrun => overrun.Scope == "run"))
        {
            Write(new SpendSignal(overrun.KeyId, overrun.Window, now, null, overrun.SettledMicroUsd));
        }
    }

    /// <summary>
    /// LLM spend was counted for these runs: LLM spend alone can take a run past a threshold of a cap that includes it.
    /// Spend under no run ('') counts against no run cap and signals nothing.
    /// </summary>
    public void LlmSpend(IEnumerable<string> runIds, DateTimeOffset now)
    {
        foreach (var runId in runIds.Where(runId => runId.Length > 0).Distinct(StringComparer.Ordinal))
        {
            Write(new LlmSpendSignal(runId, now));
        }
    }

    public void KeyRevocation(string keyId, bool revoked, DateTimeOffset now) => Write(new KeyRevocationSignal(keyId, revoked, now));

    /// <summary>Audited denials for the burst reasons (only those: the rest of the intake costs one comparison each).</summary>
    public void Audited(IEnumerable<StoredAuditRecord> records)
    {
        if (!_bursts)
        {
            return;
        }

        foreach (var record in records)
        {
            if (record.Reason is { } reason && record.Decision == "deny" && record.KeyId.Length > 0 && _burstReasons.Contains(reason))
            {
                Write(new DenialSignal(record.KeyId, reason, record.Timestamp));
            }
        }
    }

    private void Write(AlertSignal signal)
    {
        if (!_channel.Writer.TryWrite(signal))
        {
            Interlocked.Increment(ref _dropped);
        }
    }
}
