using System.Text;
using System.Text.Json.Nodes;

namespace Keybrake.BudgetService.Alerts;

/// <summary>
/// What a webhook receives. The <c>json</c> format posts the alert's payload as stored (one object, snake_case); the
/// <c>slack</c> format posts what a Slack incoming webhook takes: <c>text</c>, and one section block with the same text.
/// </summary>
internal static class AlertPayloads
{
    public const int Version = 1;

    /// <summary>The stored payload of an alert: its fields, <c>null</c>s left out.</summary>
    public static string Json(string alertId, string type, DateTimeOffset createdAt, string message, IReadOnlyDictionary<string, object?> fields)
    {
        var payload = new JsonObject
        {
            ["version"] = Version,
            ["id"] = alertId,
            ["type"] = type,
            ["created_at"] = createdAt.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture),
            ["message"] = message,
        };
        foreach (var (name, value) in fields)
        {
            JsonNode? node = value switch
            {
                null => null,
                string text => JsonValue.Create(text),
                int number => JsonValue.Create(number),
                long number => JsonValue.Create(number),
                bool flag => JsonValue.Create(flag),
                _ => throw new ArgumentException($"field {name} has a type the payload does not carry", nameof(fields)),
            };
            if (node is not null)
            {
                payload[name] = node;
            }
        }

        return payload.ToJsonString();
    }

    /// <summary>The body posted to a webhook of <paramref name="format"/>.</summary>
    public static byte[] Body(string format, string message, string payload)
    {
        if (format != AlertFormats.Slack)
        {
            return Encoding.UTF8.GetBytes(payload);
        }

        var slack = new JsonObject
        {
            ["text"] = message,
            ["blocks"] = new JsonArray(new JsonObject
            {
                ["type"] = "section",
                ["text"] = new JsonObject { ["type"] = "mrkdwn", ["text"] = ":rotating_light: *Keybrake* " + message },
            }),
        };
        return Encoding.UTF8.GetBytes(slack.ToJsonString());
    }

    public static string Money(long micros) => Usd.FromMicros(micros).ToString();
}
