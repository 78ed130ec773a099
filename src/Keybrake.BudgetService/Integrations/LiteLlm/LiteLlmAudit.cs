using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Google.Protobuf;
using Keybrake.BudgetService.Store;
using Keybrake.Protocol;

namespace Keybrake.BudgetService.Integrations.LiteLlm;

/// <summary>
/// Each LLM call reported becomes an audit record, so that the audit trail (QueryAudit, the export) shows tokens beside
/// the SaaS calls of the same run. Key id and vendor are both <c>llm</c>; the decision is <c>allow</c> (the call happened),
/// settled as reported. The record id is derived from the log id, so a re-delivered log stores no second record.
/// </summary>
internal static class LiteLlmAudit
{
    /// <summary>The key id and vendor of LLM audit records: no key of the service's is involved.</summary>
    public const string KeyId = "llm";

    public const string Vendor = "llm";

    public static StoredAuditRecord Record(LiteLlmSpendLog log, string clientId)
    {
        var recordId = RecordId(log.LogId);
        var record = new AuditRecord
        {
            RecordId = recordId,
            TimestampUnixMicros = UnixMicros.From(log.StartedAt),
            KeyId = KeyId,
            Vendor = Vendor,
            Method = "LLM",
            Endpoint = log.CallType,
            EstimatedMicroUsd = log.CostMicroUsd,
            SettledMicroUsd = log.CostMicroUsd,
            Decision = "allow",
            Settlement = "reported",
            Message = log.Status == "failure" ? "the LLM call failed; its reported cost counts" : string.Empty,
            RunId = log.RunId,
            IdempotencyKey = log.LogId,
            ClientId = clientId,
        };
        record.Parameters.Add("model", log.Model);
        record.Parameters.Add("provider", log.Provider);
        record.Parameters.Add("status", log.Status);
        record.Parameters.Add("log_id", log.LogId);
        if (log.PromptTokens is { } prompt)
        {
            record.Parameters.Add("prompt_tokens", prompt.ToString(CultureInfo.InvariantCulture));
        }

        if (log.CompletionTokens is { } completion)
        {
            record.Parameters.Add("completion_tokens", completion.ToString(CultureInfo.InvariantCulture));
        }

        return new StoredAuditRecord(recordId, log.StartedAt, KeyId, Vendor, log.RunId.Length == 0 ? null : log.RunId, record.Decision, Reason: null,
            JsonFormatter.Default.Format(record), clientId);
    }

    /// <summary><c>llm_</c> and 32 hex digits of the log id's SHA-256: the same log, the same record.</summary>
    public static string RecordId(string logId) =>
        "llm_" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes("litellm:" + logId)))[..32];
}
