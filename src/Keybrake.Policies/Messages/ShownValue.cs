namespace Keybrake.Policies;

/// <summary>
/// A bad value as an error message may echo it: at most <see cref="MaxLength"/> characters, control and lone
/// surrogate characters as '?', and "..." when cut. A 10 MB value then costs its sender a short line, not a
/// 10 MB answer, and no control byte reaches a log or a terminal.
/// </summary>
public static class ShownValue
{
    /// <summary>The most characters of a value shown.</summary>
    public const int MaxLength = 40;

    /// <summary>The value as a message may show it.</summary>
    /// <param name="value">The bad value; empty when <see langword="null"/>.</param>
    public static string Of(string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return string.Empty;
        }

        var shown = string.Create(Math.Min(value.Length, MaxLength), value, static (span, source) =>
        {
            for (var i = 0; i < span.Length; i++)
            {
                span[i] = char.IsControl(source[i]) || char.IsSurrogate(source[i]) ? '?' : source[i];
            }
        });
        return value.Length > MaxLength ? shown + "..." : shown;
    }
}
