namespace Keybrake.Cli.Output;

/// <summary>Errors are one line on standard error: a message that spans lines (a parser's list of choices, a service's detail) is folded.</summary>
internal static class OneLine
{
    public static string Of(string message) =>
        string.Join(' ', message.Split(['\r', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
}
