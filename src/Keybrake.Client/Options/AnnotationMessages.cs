namespace Keybrake.Client;

/// <summary>
/// Rewrites the data-annotation messages of the source-generated validators into the shape of every other
/// configuration error: the configuration path, a colon, the problem. The generator names a member by its
/// options name and dotted property path (<c>The Keybrake:Keys:agent.VendorSecret field is required.</c>);
/// an operator looks for <c>Keybrake:Keys:agent:VendorSecret: a value is required</c>.
/// </summary>
internal static class AnnotationMessages
{
    /// <param name="message">The validator's message.</param>
    /// <param name="displayPrefix">What the generator put before the member path (the name passed to Validate, or the options type's name).</param>
    /// <param name="configurationPath">The configuration path of that object, such as <c>Keybrake:Keys:agent</c>.</param>
    public static string Reshape(string message, string displayPrefix, string configurationPath)
    {
        var start = message.IndexOf(displayPrefix + ".", StringComparison.Ordinal);
        if (start < 0)
        {
            return message;
        }

        var end = message.IndexOf(' ', start);
        var display = end < 0 ? message[start..] : message[start..end];
        var path = configurationPath + ":" + display[(displayPrefix.Length + 1)..].TrimEnd('.').Replace('.', ':');
        // The generator writes "Member: The field X.Member must ..." or "Member: The X.Member field is ...".
        string rest;
        var sentence = Math.Max(message.IndexOf($"The field {display} ", StringComparison.Ordinal), message.IndexOf($"The {display} field ", StringComparison.Ordinal));
        if (sentence >= 0)
        {
            rest = message[(sentence + $"The field {display} ".Length)..];
        }
        else
        {
            rest = message.Replace(display, "the value", StringComparison.Ordinal);
        }

        rest = rest.TrimEnd('.');
        return $"{path}: {(rest == "is required" ? "a value is required" : rest)}";
    }
}
