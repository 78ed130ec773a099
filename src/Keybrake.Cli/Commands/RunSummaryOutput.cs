using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Grpc.Core;
using Keybrake.Cli.Connection;
using Keybrake.Cli.Output;
using Keybrake.Protocol;

namespace Keybrake.Cli.Commands;

/// <summary>
/// What <c>keybrake spend --run</c> adds to the run's rows: the LLM spend LiteLLM reported for the run beside its SaaS
/// dollars (GetRun), and each key whose run cap counts both.
/// </summary>
internal static class RunSummaryOutput
{
    private static readonly JsonSerializerOptions s_writer = new() { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The run's summary, or <see langword="null"/> from a service too old to keep LLM spend (it has no GetRun).</summary>
    public static async Task<RunSummary?> GetAsync(AdminSession session, string runId, CancellationToken cancellationToken)
    {
        try
        {
            return await session.Admin.GetRunAsync(new GetRunRequest { RunId = runId }, session.Call(cancellationToken)).ConfigureAwait(false);
        }
        catch (RpcException exception) when (exception.StatusCode == StatusCode.Unimplemented)
        {
            return null;
        }
    }

    /// <summary>The spend reply as JSON, with the run's summary under <c>run</c> (<c>null</c> from a service without one).</summary>
    public static string Json(QuerySpendReply spend, RunSummary? run)
    {
        var json = JsonNode.Parse(JsonOutput.Format(spend))!.AsObject();
        json["run"] = run is null ? null : JsonNode.Parse(JsonOutput.Format(run));
        return json.ToJsonString(s_writer);
    }

    /// <summary>Tokens and SaaS dollars side by side, then the LLM spend by model, then the keys whose run cap counts both.</summary>
    public static void Write(TextWriter output, RunSummary? run)
    {
        output.WriteLine();
        if (run is null)
        {
            output.WriteLine("LLM spend: not shown (the budget service predates GetRun).");
            return;
        }

        var saas = run.SaasSettledMicroUsd + run.SaasReservedMicroUsd;
        var sideBySide = new Table()
            .Column("RUN").Column("SAAS", alignRight: true).Column("LLM TOKENS", alignRight: true).Column("LLM CALLS", alignRight: true).Column("TOTAL", alignRight: true);
        sideBySide.Row(run.RunId, Dollars(saas), Dollars(run.LlmMicroUsd), run.LlmCalls.ToString(CultureInfo.InvariantCulture), Dollars(run.TotalMicroUsd));
        sideBySide.Write(output);
        if (run.LlmModels.Count > 0)
        {
            output.WriteLine();
            var models = new Table().Column("MODEL").Column("PROVIDER").Column("CALLS", alignRight: true).Column("COST", alignRight: true);
            foreach (var model in run.LlmModels)
            {
                models.Row(model.Model, model.Provider, model.Calls.ToString(CultureInfo.InvariantCulture), Dollars(model.CostMicroUsd));
            }

            models.Write(output);
        }

        foreach (var key in run.Keys.Where(key => key.CapIncludesLlm && key.HasRunCapMicroUsd))
        {
            var counted = run.LlmMicroUsd + key.SettledMicroUsd + key.ReservedMicroUsd;
            output.WriteLine($"Run cap of {key.KeyId}: {Dollars(key.RunCapMicroUsd)}, counting LLM tokens: {Dollars(counted)} counted, {Dollars(Math.Max(0, key.RunCapMicroUsd - counted))} left.");
        }
    }

    private static string Dollars(long micros) => Usd.FromMicros(micros).ToString();
}
