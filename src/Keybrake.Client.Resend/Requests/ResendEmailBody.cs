using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text.Json;

namespace Keybrake.Client.Resend;

/// <summary>
/// The recipients of the emails in a send request: <c>POST /emails</c> takes one email object,
/// <c>POST /emails/batch</c> an array of them. Recipients are <c>to</c>, <c>cc</c> and <c>bcc</c>, each a string or
/// an array of strings (<c>reply_to</c> receives nothing). The JSON is read strictly: a property given twice, a
/// recipient field of the wrong type, or anything that is not valid UTF-8 JSON is refused, never guessed at.
/// </summary>
internal static class ResendEmailBody
{
    public static readonly string[] RecipientFields = ["to", "cc", "bcc"];

    private static readonly JsonDocumentOptions s_options = new()
    {
        AllowDuplicateProperties = false,
        AllowTrailingCommas = false,
        CommentHandling = JsonCommentHandling.Disallow,
        MaxDepth = 64,
    };

    /// <summary>Reads the emails of a send; on failure the problem says what is wrong and where, without quoting the body.</summary>
    public static bool TryRead(ReadOnlyMemory<byte> body, bool batch, [NotNullWhen(true)] out EmailRecipients[]? emails, [NotNullWhen(false)] out string? problem)
    {
        emails = null;
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body, s_options);
        }
        catch (JsonException exception)
        {
            problem = string.Create(
                CultureInfo.InvariantCulture,
                $"the body is not valid JSON (line {exception.LineNumber ?? 0}, byte {exception.BytePositionInLine ?? 0}; a property given twice is refused too)");
            return false;
        }

        using (document)
        {
            var root = document.RootElement;
            if (!batch)
            {
                if (!TryReadEmail(root, null, out var email, out problem))
                {
                    return false;
                }

                emails = [email];
                return true;
            }

            if (root.ValueKind != JsonValueKind.Array || root.GetArrayLength() == 0)
            {
                problem = "a batch body is a non-empty JSON array of emails";
                return false;
            }

            var list = new EmailRecipients[root.GetArrayLength()];
            var index = 0;
            foreach (var item in root.EnumerateArray())
            {
                if (!TryReadEmail(item, index, out var email, out problem))
                {
                    return false;
                }

                list[index++] = email;
            }

            emails = list;
            problem = null;
            return true;
        }
    }

    private static bool TryReadEmail(JsonElement element, int? index, [NotNullWhen(true)] out EmailRecipients? email, [NotNullWhen(false)] out string? problem)
    {
        email = null;
        var where = index is { } i ? string.Create(CultureInfo.InvariantCulture, $"email {i} of the batch") : "the email";
        if (element.ValueKind != JsonValueKind.Object)
        {
            problem = $"{where} is not a JSON object";
            return false;
        }

        var fields = new string[RecipientFields.Length][];
        for (var f = 0; f < RecipientFields.Length; f++)
        {
            if (!TryReadAddresses(element, RecipientFields[f], out fields[f]!, out var fieldProblem))
            {
                problem = $"'{RecipientFields[f]}' of {where} {fieldProblem}";
                return false;
            }
        }

        if (fields[0].Length == 0)
        {
            problem = $"{where} has no recipient in 'to'";
            return false;
        }

        email = new EmailRecipients(fields[0], fields[1], fields[2]);
        problem = null;
        return true;
    }

    private static bool TryReadAddresses(JsonElement email, string name, out string[] addresses, [NotNullWhen(false)] out string? problem)
    {
        addresses = [];
        problem = null;
        if (!email.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return true;
        }

        switch (value.ValueKind)
        {
            case JsonValueKind.String:
                if (!TryGetText(value, out var single))
                {
                    problem = LoneSurrogate;
                    return false;
                }

                addresses = [single];
                return true;
            case JsonValueKind.Array:
                var list = new string[value.GetArrayLength()];
                var i = 0;
                foreach (var item in value.EnumerateArray())
                {
                    if (item.ValueKind != JsonValueKind.String)
                    {
                        problem = "must be a string or an array of strings";
                        return false;
                    }

                    if (!TryGetText(item, out var text))
                    {
                        problem = LoneSurrogate;
                        return false;
                    }

                    list[i++] = text;
                }

                addresses = list;
                return true;
            default:
                problem = "must be a string or an array of strings";
                return false;
        }
    }

    private const string LoneSurrogate = "holds an escaped lone surrogate (\\uD800 to \\uDFFF), which is no character";

    /// <summary>A JSON string's text; <see langword="false"/> for an escape that is half a surrogate pair, which has no text.</summary>
    private static bool TryGetText(JsonElement element, out string text)
    {
        try
        {
            text = element.GetString()!;
            return true;
        }
        catch (InvalidOperationException)
        {
            text = string.Empty;
            return false;
        }
    }
}

/// <summary>The recipients of one email, as sent (display names included).</summary>
internal sealed record EmailRecipients(string[] To, string[] Cc, string[] Bcc)
{
    /// <summary>Resend counts every <c>to</c>, <c>cc</c> and <c>bcc</c> recipient as one email.</summary>
    public int Count => To.Length + Cc.Length + Bcc.Length;
}
