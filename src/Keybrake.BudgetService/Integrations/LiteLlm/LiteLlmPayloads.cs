using System.Globalization;
using System.Text.Json;
using Keybrake.BudgetService.Budget;

namespace Keybrake.BudgetService.Integrations.LiteLlm;

/// <summary>What a body held: its spend logs and the format they came in, or the one problem that refuses it whole.</summary>
internal sealed record LiteLlmBatch(IReadOnlyList<LiteLlmSpendLog> Logs, string Format, string? Problem)
{
    public static LiteLlmBatch Refused(string problem) => new([], string.Empty, problem);
}

/// <summary>
/// Reads the bodies LiteLLM's generic API callback posts, in each of its <c>log_format</c>s. It sends
/// <c>Content-Type: application/json</c> whatever the format, so the format is told by the body's shape: one JSON array
/// is <c>json_array</c> (its default), one object is <c>single</c>, and objects one after another (a line each) are
/// <c>ndjson</c>. Each element is a <c>StandardLoggingPayload</c>. One bad element refuses the whole body, naming the
/// element's index and the field, so that nothing of a batch is half stored.
/// </summary>
internal static class LiteLlmPayloads
{
    public const string JsonArray = "json_array";
    public const string Ndjson = "ndjson";
    public const string Single = "single";

    private const int MaxTextLength = 256;

    public static LiteLlmBatch Parse(ReadOnlyMemory<byte> body, DateTimeOffset receivedAt)
    {
        var values = new List<JsonDocument>();
        try
        {
            var reader = new Utf8JsonReader(body.Span, new JsonReaderOptions { AllowMultipleValues = true, MaxDepth = 64 });
            while (reader.Read())
            {
                if (values.Count == RequestChecks.MaxBatch)
                {
                    return LiteLlmBatch.Refused($"the body holds more than {RequestChecks.MaxBatch} spend logs; send fewer at a time (LiteLLM's batch_size)");
                }

                values.Add(JsonDocument.ParseValue(ref reader));
            }

            return Read(values, receivedAt);
        }
        catch (JsonException exception)
        {
            var item = values.Count;
            return LiteLlmBatch.Refused(string.Create(CultureInfo.InvariantCulture,
                $"the body is not valid JSON (line {exception.LineNumber + 1}, byte {exception.BytePositionInLine + 1}{(item > 0 ? $", after item {item - 1}" : string.Empty)})"));
        }
        finally
        {
            foreach (var value in values)
            {
                value.Dispose();
            }
        }
    }

    private static LiteLlmBatch Read(List<JsonDocument> values, DateTimeOffset receivedAt)
    {
        if (values.Count == 0)
        {
            return LiteLlmBatch.Refused("the body holds no spend log: send LiteLLM's StandardLoggingPayload as a JSON array, one object, or one object a line");
        }

        IReadOnlyList<JsonElement> items;
        string format;
        if (values.Count == 1 && values[0].RootElement.ValueKind == JsonValueKind.Array)
        {
            var array = values[0].RootElement;
            if (array.GetArrayLength() > RequestChecks.MaxBatch)
            {
                return LiteLlmBatch.Refused($"the body holds more than {RequestChecks.MaxBatch} spend logs; send fewer at a time (LiteLLM's batch_size)");
            }

            items = [.. array.EnumerateArray()];
            format = JsonArray;
        }
        else
        {
            items = [.. values.Select(value => value.RootElement)];
            format = values.Count == 1 ? Single : Ndjson;
        }

        var logs = new List<LiteLlmSpendLog>(items.Count);
        for (var index = 0; index < items.Count; index++)
        {
            var (log, problem) = Item(items[index], receivedAt);
            if (problem is not null)
            {
                return LiteLlmBatch.Refused($"item {index}: {problem}");
            }

            logs.Add(log!);
        }

        return new LiteLlmBatch(logs, format, null);
    }

    private static (LiteLlmSpendLog? Log, string? Problem) Item(JsonElement item, DateTimeOffset receivedAt)
    {
        if (item.ValueKind != JsonValueKind.Object)
        {
            return (null, $"is {LiteLlmJson.KindName(item.ValueKind)}, not a spend log object (StandardLoggingPayload)");
        }

        if (LiteLlmJson.Find(item, "id") is not { } idValue)
        {
            return (null, "id is missing: a spend log needs its id, so that a re-delivery counts once");
        }

        if (Text(idValue, "id", required: true) is { Problem: { } idProblem })
        {
            return (null, idProblem);
        }

        if (LiteLlmJson.Find(item, "response_cost") is not { } costValue)
        {
            return (null, "response_cost is missing");
        }

        var (cost, costProblem) = LiteLlmCost.ToMicroUsd(costValue);
        if (costProblem is not null)
        {
            return (null, $"response_cost {costProblem}");
        }

        var model = Text(LiteLlmJson.Find(item, "model"), "model");
        var provider = Text(LiteLlmJson.Find(item, "custom_llm_provider"), "custom_llm_provider");
        var callType = Text(LiteLlmJson.Find(item, "call_type"), "call_type");
        var status = Text(LiteLlmJson.Find(item, "status"), "status");
        if ((model.Problem ?? provider.Problem ?? callType.Problem ?? status.Problem) is { } textProblem)
        {
            return (null, textProblem);
        }

        if (status.Value.Length > 0 && status.Value is not ("success" or "failure"))
        {
            return (null, "status must be \"success\" or \"failure\"");
        }

        var prompt = Tokens(LiteLlmJson.Find(item, "prompt_tokens"), "prompt_tokens");
        var completion = Tokens(LiteLlmJson.Find(item, "completion_tokens"), "completion_tokens");
        if ((prompt.Problem ?? completion.Problem) is { } tokenProblem)
        {
            return (null, tokenProblem);
        }

        var (startedAt, timeProblem) = StartTime(LiteLlmJson.Find(item, "startTime"), receivedAt);
        if (timeProblem is not null)
        {
            return (null, $"startTime {timeProblem}");
        }

        var (runId, runField, runProblem) = LiteLlmRunIds.Of(item);
        if (runProblem is not null)
        {
            return (null, $"{runField} {runProblem}");
        }

        return (new LiteLlmSpendLog(
            idValue.GetString()!,
            runId,
            cost,
            model.Value,
            provider.Value,
            prompt.Value,
            completion.Value,
            status.Value.Length == 0 ? "success" : status.Value,
            startedAt,
            callType.Value), null);
    }

    private static (string Value, string? Problem) Text(JsonElement? value, string field, bool required = false)
    {
        if (value is not { } present)
        {
            return (string.Empty, null);
        }

        if (present.ValueKind != JsonValueKind.String)
        {
            return (string.Empty, $"{field} must be a string, not {LiteLlmJson.KindName(present.ValueKind)}");
        }

        var text = present.GetString()!;
        if (required && text.Length == 0)
        {
            return (string.Empty, $"{field} must not be empty");
        }

        if (text.Length > MaxTextLength || text.Any(char.IsControl))
        {
            return (string.Empty, $"{field} must be at most {MaxTextLength} characters, without control characters");
        }

        return (text, null);
    }

    private static (long? Value, string? Problem) Tokens(JsonElement? value, string field)
    {
        if (value is not { } present)
        {
            return (null, null);
        }

        return present.ValueKind == JsonValueKind.Number && present.TryGetInt64(out var count) && count >= 0
            ? (count, null)
            : (null, $"{field} must be a whole number of tokens, not {(present.ValueKind == JsonValueKind.Number ? present.GetRawText() : LiteLlmJson.KindName(present.ValueKind))}");
    }

    /// <summary>
    /// LiteLLM's <c>startTime</c> is seconds since the Unix epoch (a float); its own test payloads also carry Python's
    /// <c>str(datetime)</c>, <c>2025-01-24 09:20:46.847371</c> (UTC, as LiteLLM logs). Absent, the log is dated when it arrived.
    /// </summary>
    private static (DateTimeOffset Value, string? Problem) StartTime(JsonElement? value, DateTimeOffset receivedAt)
    {
        switch (value)
        {
            case null:
                return (receivedAt, null);
            case { ValueKind: JsonValueKind.Number } seconds:
                if (decimal.TryParse(seconds.GetRawText(), NumberStyles.Float, CultureInfo.InvariantCulture, out var unixSeconds)
                    && unixSeconds >= 0 && unixSeconds < 253_402_300_800m)
                {
                    return (DateTimeOffset.UnixEpoch.AddTicks((long)decimal.Round(unixSeconds * TimeSpan.TicksPerSecond, 0, MidpointRounding.AwayFromZero)), null);
                }

                return (default, "must be seconds since the Unix epoch, from 0 to the year 9999");
            case { ValueKind: JsonValueKind.String } text:
                return DateTimeOffset.TryParse(text.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var moment)
                    ? (moment, null)
                    : (default, "must be seconds since the Unix epoch or a date and time (2025-01-24 09:20:46.847371)");
            default:
                return (default, $"must be a number of seconds since the Unix epoch, not {LiteLlmJson.KindName(value.Value.ValueKind)}");
        }
    }
}
