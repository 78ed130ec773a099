using System.Globalization;

namespace Keybrake.Cli.Values;

/// <summary>
/// Dollars as the operator types and reads them, and integer micro-USD as the service holds them. Parsing goes
/// through <see cref="decimal"/>, never a binary floating point, so "0.1" is exactly 100000 micro-USD.
/// </summary>
internal static class UsdText
{
    public const long MicrosPerDollar = 1_000_000;

    /// <summary>The largest amount accepted, the same bound the service and the library use: one trillion dollars.</summary>
    public const long MaxMicros = 1_000_000_000_000L * MicrosPerDollar;

    /// <summary>Parses dollars such as <c>100</c>, <c>12.50</c>, <c>$0.0075</c> into micro-USD.</summary>
    public static bool TryParse(string? text, out long micros, out string error)
    {
        micros = 0;
        var trimmed = text?.Trim() ?? string.Empty;
        var digits = trimmed.StartsWith('$') ? trimmed[1..] : trimmed;
        if (digits.Length == 0)
        {
            error = "an amount in dollars is required, such as 100 or 12.50";
            return false;
        }

        if (digits.StartsWith('-') || trimmed.StartsWith('-'))
        {
            error = $"'{text}' is negative: amounts are zero or more dollars";
            return false;
        }

        // Digits and one point only: no sign, exponent, thousands separator or culture-specific point.
        if (!decimal.TryParse(digits, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var dollars)
            || digits.EndsWith('.') || digits.StartsWith('.'))
        {
            error = $"'{text}' is not an amount in dollars: write it like 100, 12.50 or 0.0075";
            return false;
        }

        if (dollars.Scale > 6)
        {
            error = $"'{text}' has more than six digits after the point: the smallest amount is $0.000001";
            return false;
        }

        if (dollars > MaxMicros / MicrosPerDollar)
        {
            error = $"'{text}' is more than the largest amount accepted, $1000000000000";
            return false;
        }

        micros = (long)(dollars * MicrosPerDollar);
        error = string.Empty;
        return true;
    }

    /// <summary>Micro-USD as dollars with cents, and more decimals only when they are not zero: <c>$100.00</c>, <c>$0.0075</c>.</summary>
    public static string Format(long micros)
    {
        var sign = micros < 0 ? "-" : string.Empty;
        var magnitude = Math.Abs((decimal)micros);
        var dollars = decimal.Truncate(magnitude / MicrosPerDollar);
        var fraction = ((long)(magnitude - (dollars * MicrosPerDollar))).ToString("D6", CultureInfo.InvariantCulture).TrimEnd('0');
        if (fraction.Length < 2)
        {
            fraction = fraction.PadRight(2, '0');
        }

        return string.Create(CultureInfo.InvariantCulture, $"{sign}${dollars}.{fraction}");
    }
}
