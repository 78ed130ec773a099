using System.Globalization;
using Grpc.Core;
using Keybrake.BudgetService.Store;
using Keybrake.Protocol;

namespace Keybrake.BudgetService.Budget;

/// <summary>One run's spend across every key and the LLM spend reported for it, side by side (GetRun).</summary>
internal sealed partial class BudgetAdminGrpcService
{
    public override async Task<RunSummary> GetRun(GetRunRequest request, ServerCallContext context)
    {
        RequestChecks.Id(request.RunId, "run_id");
        RequestChecks.RunId(request.RunId);
        var run = await _queries.GetRunAsync(request.RunId, context.CancellationToken);
        return Summary(request.RunId, run, _keys.Find);
    }

    /// <summary>For the console's runs page (no RPC): the runs with the most LLM spend, largest first.</summary>
    internal async Task<IReadOnlyList<StoredLlmRunTotal>> ListLlmRunTotals(int limit, ServerCallContext context) =>
        await _queries.ListLlmRunTotalsAsync(limit, context.CancellationToken);

    /// <summary>The reply for a run, with each key's vendor and run cap as its policy sets them now.</summary>
    internal static RunSummary Summary(string runId, StoredRun run, Func<string, Keys.ServiceKey?> find)
    {
        var summary = new RunSummary
        {
            RunId = runId,
            LlmMicroUsd = run.LlmMicroUsd,
            LlmCalls = (int)Math.Min(run.LlmCalls, int.MaxValue),
            FirstSeen = RunTime(run.FirstSeen),
            LastSeen = RunTime(run.LastSeen),
        };
        foreach (var counter in run.Keys)
        {
            var key = find(counter.KeyId);
            var spend = new RunKeySpend
            {
                KeyId = counter.KeyId,
                Vendor = key?.Vendor ?? string.Empty,
                SettledMicroUsd = counter.SettledMicroUsd,
                ReservedMicroUsd = counter.ReservedMicroUsd,
                CapIncludesLlm = key?.Policy.RunCapIncludesLlm ?? false,
            };
            if (key?.Policy.RunCap is { } cap)
            {
                spend.RunCapMicroUsd = cap.Micros;
            }

            summary.Keys.Add(spend);
            summary.SaasSettledMicroUsd += counter.SettledMicroUsd;
            summary.SaasReservedMicroUsd += counter.ReservedMicroUsd;
        }

        foreach (var model in run.LlmModels)
        {
            summary.LlmModels.Add(new LlmModelSpend { Model = model.Model, Provider = model.Provider, CostMicroUsd = model.CostMicroUsd, Calls = (int)Math.Min(model.Calls, int.MaxValue) });
        }

        summary.TotalMicroUsd = summary.SaasSettledMicroUsd + summary.SaasReservedMicroUsd + summary.LlmMicroUsd;
        return summary;
    }

    private static string RunTime(DateTimeOffset? value) => value is { } time ? time.UtcDateTime.ToString("O", CultureInfo.InvariantCulture) : string.Empty;
}
