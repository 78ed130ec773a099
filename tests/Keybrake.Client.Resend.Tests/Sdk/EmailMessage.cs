using System.Text.Json.Serialization;

namespace Keybrake.Client.Resend.Tests.Sdk;

/// <summary>
/// An email as the Resend SDK serialises its <c>EmailMessage</c>: the same JSON names, <c>to</c> always an array,
/// and the optional fields left out when null.
/// </summary>
internal sealed class EmailMessage
{
    [JsonPropertyName("from")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? From { get; set; } = "Acme <onboarding@acme.example>";

    [JsonPropertyName("to")]
    public List<string> To { get; set; } = [];

    [JsonPropertyName("subject")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Subject { get; set; } = "Your order";

    [JsonPropertyName("cc")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public List<string>? Cc { get; set; }

    [JsonPropertyName("bcc")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public List<string>? Bcc { get; set; }

    [JsonPropertyName("reply_to")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public List<string>? ReplyTo { get; set; }

    [JsonPropertyName("text")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? TextBody { get; set; } = "Thanks for your order.";

    [JsonPropertyName("html")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? HtmlBody { get; set; }

    [JsonPropertyName("headers")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public Dictionary<string, string>? Headers { get; set; }

    [JsonPropertyName("scheduled_at")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? ScheduledAt { get; set; }

    public static EmailMessage To_(params string[] to) => new() { To = [.. to] };
}

/// <summary>The answer to a batch in a chosen validation mode: the ids sent and, when permissive, the emails refused.</summary>
internal sealed class EmailBatchResponse
{
    [JsonPropertyName("data")]
    public List<EmailBatchReceipt> Data { get; set; } = [];

    [JsonPropertyName("errors")]
    public List<EmailBatchError>? Errors { get; set; }
}

internal sealed class EmailBatchReceipt
{
    [JsonPropertyName("id")]
    public Guid Id { get; set; }
}

internal sealed class EmailBatchError
{
    [JsonPropertyName("index")]
    public int Index { get; set; }

    [JsonPropertyName("message")]
    public string Message { get; set; } = string.Empty;
}
