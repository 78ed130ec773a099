using System.Text.Json;

namespace Keybrake.BudgetService.Integrations.LiteLlm;

/// <summary>Small reads of a payload's JSON that name what they found when it is not what they expect.</summary>
internal static class LiteLlmJson
{
    public static string KindName(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => "nothing",
    };

    /// <summary>A property, or <see langword="null"/> when it is absent or JSON <c>null</c>.</summary>
    public static JsonElement? Find(JsonElement item, string name) =>
        item.ValueKind == JsonValueKind.Object && item.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null ? value : null;

    /// <summary>A header LiteLLM logged, looked up without regard to case (HTTP header names have none).</summary>
    public static JsonElement? Header(JsonElement headers, string name)
    {
        if (headers.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        foreach (var property in headers.EnumerateObject())
        {
            if (property.Name.Equals(name, StringComparison.OrdinalIgnoreCase) && property.Value.ValueKind != JsonValueKind.Null)
            {
                return property.Value;
            }
        }

        return null;
    }
}
