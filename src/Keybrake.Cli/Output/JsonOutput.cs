using Google.Protobuf;

namespace Keybrake.Cli.Output;

/// <summary>
/// The service's reply messages as JSON for scripts, in the protobuf JSON mapping that the REST API uses too:
/// lowerCamelCase names, 64-bit integers (micro-USD) as strings, every field present even when zero or empty.
/// </summary>
internal static class JsonOutput
{
    private static readonly JsonFormatter s_formatter = new(JsonFormatter.Settings.Default.WithFormatDefaultValues(true).WithIndentation());

    public static void Write(TextWriter output, IMessage message) => output.WriteLine(s_formatter.Format(message));
}
