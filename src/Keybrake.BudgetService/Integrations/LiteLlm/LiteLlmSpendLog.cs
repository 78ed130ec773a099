namespace Keybrake.BudgetService.Integrations.LiteLlm;

/// <summary>
/// What the service keeps of one of LiteLLM's spend logs (its <c>StandardLoggingPayload</c>): the money, the run it
/// belongs to ('' for none), and enough to say which call it was.
/// </summary>
/// <param name="LogId">The payload's <c>id</c>: a re-delivered log is recognised by it and counted once.</param>
/// <param name="RunId">The run id (see <see cref="LiteLlmRunIds"/>), or '' when the payload names none.</param>
/// <param name="CostMicroUsd">Its <c>response_cost</c> in micro-USD.</param>
/// <param name="Model">Its <c>model</c>, or ''.</param>
/// <param name="Provider">Its <c>custom_llm_provider</c>, or ''.</param>
/// <param name="PromptTokens">Its <c>prompt_tokens</c>, when it has them.</param>
/// <param name="CompletionTokens">Its <c>completion_tokens</c>, when it has them.</param>
/// <param name="Status"><c>success</c> or <c>failure</c>: a failure's cost (usually 0) counts like any other.</param>
/// <param name="StartedAt">Its <c>startTime</c>, or when it arrived.</param>
/// <param name="CallType">Its <c>call_type</c> (<c>acompletion</c>, ...), or ''.</param>
internal sealed record LiteLlmSpendLog(
    string LogId,
    string RunId,
    long CostMicroUsd,
    string Model,
    string Provider,
    long? PromptTokens,
    long? CompletionTokens,
    string Status,
    DateTimeOffset StartedAt,
    string CallType);
