using System.Collections;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace Keybrake.Cli.Output;

/// <summary>
/// The service's reply messages as JSON for scripts, in the protobuf JSON mapping that the REST API uses too:
/// lowerCamelCase names, 64-bit integers (micro-USD) as strings, every field present even when zero or empty.
/// A field that can be unset (an optional cap, a message not sent) is <c>null</c> when it is, never left out,
/// so a script can tell "no run cap" from a field it misspelt.
/// </summary>
internal static class JsonOutput
{
    private static readonly JsonFormatter s_formatter = new(JsonFormatter.Settings.Default.WithFormatDefaultValues(true));

    private static readonly JsonSerializerOptions s_writer = new()
    {
        WriteIndented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, // as the formatter writes them: '+1555...', not '\u002B1555...'
    };

    public static void Write(TextWriter output, IMessage message) => output.WriteLine(Format(message));

    public static string Format(IMessage message)
    {
        var json = JsonNode.Parse(s_formatter.Format(message))!.AsObject();
        return WithEveryField(json, message).ToJsonString(s_writer);
    }

    /// <summary>The object with its fields in declaration order, and <c>null</c> for each unset one.</summary>
    private static JsonObject WithEveryField(JsonObject json, IMessage message)
    {
        var complete = new JsonObject();
        foreach (var field in message.Descriptor.Fields.InDeclarationOrder())
        {
            json.Remove(field.JsonName, out var value);
            complete[field.JsonName] = value is null ? null : Complete(value, field, field.Accessor.GetValue(message));
        }

        foreach (var (name, value) in json.ToList())
        {
            json.Remove(name);
            complete[name] = value; // nothing the descriptor does not name is expected, but nothing is dropped
        }

        return complete;
    }

    private static JsonNode Complete(JsonNode value, FieldDescriptor field, object? fieldValue)
    {
        if (field.IsMap)
        {
            var valueField = field.MessageType.FindFieldByNumber(2);
            if (IsPlainMessage(valueField) && value is JsonObject map && fieldValue is IDictionary entries)
            {
                foreach (DictionaryEntry entry in entries)
                {
                    var key = Convert.ToString(entry.Key, System.Globalization.CultureInfo.InvariantCulture)!;
                    if (map[key] is JsonObject item && entry.Value is IMessage inner)
                    {
                        map[key] = WithEveryField(Detach(map, key, item), inner);
                    }
                }
            }

            return value;
        }

        if (!IsPlainMessage(field))
        {
            return value;
        }

        if (field.IsRepeated && value is JsonArray array && fieldValue is IList list)
        {
            for (var i = 0; i < array.Count && i < list.Count; i++)
            {
                if (array[i] is JsonObject item && list[i] is IMessage inner)
                {
                    array[i] = null;
                    array[i] = WithEveryField(item, inner);
                }
            }

            return value;
        }

        return value is JsonObject json && fieldValue is IMessage message ? WithEveryField(json, message) : value;
    }

    private static JsonObject Detach(JsonObject parent, string key, JsonObject item)
    {
        parent[key] = null;
        return item;
    }

    /// <summary>A message field written as a JSON object: not a well-known type, which has a JSON form of its own.</summary>
    private static bool IsPlainMessage(FieldDescriptor field) =>
        field.FieldType == FieldType.Message && !field.MessageType.FullName.StartsWith("google.protobuf.", StringComparison.Ordinal);
}
