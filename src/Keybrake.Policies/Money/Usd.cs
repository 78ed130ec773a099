using System.ComponentModel;
using System.Globalization;

namespace Keybrake.Policies;

/// <summary>
/// An amount of US dollars held as a whole number of micro-dollars (millionths of a dollar).
/// Money in Keybrake is never a floating-point number.
/// </summary>
/// <remarks>
/// In configuration an amount is written as a decimal string such as <c>"100"</c>, <c>"12.50"</c> or
/// <c>"$0.0075"</c>, with at most six digits after the point.
/// </remarks>
[TypeConverter(typeof(UsdTypeConverter))]
public readonly record struct Usd : IComparable<Usd>
{
    /// <summary>Micro-dollars in one dollar.</summary>
    public const long MicrosPerDollar = 1_000_000;

    /// <summary>The largest amount Keybrake accepts: one trillion dollars.</summary>
    public static readonly Usd MaxValue = new(1_000_000_000_000L * MicrosPerDollar);

    /// <summary>Zero dollars.</summary>
    public static readonly Usd Zero;

    /// <summary>Creates an amount from micro-dollars.</summary>
    /// <param name="micros">Millionths of a dollar; may be negative for differences.</param>
    public Usd(long micros) => Micros = micros;

    /// <summary>The amount in millionths of a dollar.</summary>
    public long Micros { get; }

    /// <summary>Creates an amount from micro-dollars.</summary>
    public static Usd FromMicros(long micros) => new(micros);

    /// <summary>Creates an amount from whole cents.</summary>
    public static Usd FromCents(long cents) => new(checked(cents * 10_000));

    /// <summary>Creates an amount from whole dollars.</summary>
    public static Usd FromDollars(long dollars) => new(checked(dollars * MicrosPerDollar));

    /// <summary>Parses a decimal dollar string such as <c>"100"</c>, <c>"12.50"</c> or <c>"$0.0075"</c>.</summary>
    /// <exception cref="FormatException">The text is not a non-negative amount with at most six decimals.</exception>
    public static Usd Parse(string text) =>
        TryParse(text, out var value)
            ? value
            : throw new FormatException(
                $"'{text}' is not a USD amount: write a non-negative decimal number of dollars with at most six digits after the point, such as \"100\" or \"12.50\".");

    /// <summary>Parses a decimal dollar string without throwing.</summary>
    public static bool TryParse(string? text, out Usd value) => TryParse(text, out value, out _);

    /// <summary>
    /// Parses a decimal dollar string without throwing, and says what is wrong with one it refuses: empty,
    /// negative, not a decimal number, more than six digits after the point, or more than <see cref="MaxValue"/>.
    /// </summary>
    /// <param name="text">The amount, such as <c>"100"</c>, <c>"12.50"</c> or <c>"$0.0075"</c>.</param>
    /// <param name="value">The amount, or zero when the text is refused.</param>
    /// <param name="error">Why the text is refused, in one line that shows at most a short prefix of it; empty when it is not.</param>
    public static bool TryParse(string? text, out Usd value, out string error)
    {
        value = default;
        error = Read(text, ref value) ?? string.Empty;
        return error.Length == 0;
    }

    /// <summary>Returns <see langword="null"/> and sets <paramref name="value"/>, or why the text is not an amount.</summary>
    private static string? Read(string? text, ref Usd value)
    {
        var span = text.AsSpan().Trim();
        if (span.StartsWith("$"))
        {
            span = span[1..];
        }

        if (span.IsEmpty)
        {
            return "an amount in dollars is required, such as 100 or 12.50";
        }

        if (span[0] == '-' || text.AsSpan().TrimStart().StartsWith("-"))
        {
            return $"'{ShownValue.Of(text)}' is negative: amounts are zero or more dollars";
        }

        var point = span.IndexOf('.');
        var whole = point < 0 ? span : span[..point];
        var fraction = point < 0 ? ReadOnlySpan<char>.Empty : span[(point + 1)..];

        // Digits and one point only: no sign, exponent, thousands separator or culture-specific point.
        if (whole.IsEmpty || (point >= 0 && fraction.IsEmpty) || !AllDigits(whole) || !AllDigits(fraction))
        {
            return $"'{ShownValue.Of(text)}' is not an amount in dollars: write it like 100, 12.50 or 0.0075";
        }

        if (fraction.Length > 6)
        {
            return $"'{ShownValue.Of(text)}' has more than six digits after the point: the smallest amount is $0.000001";
        }

        var tooLarge = $"'{ShownValue.Of(text)}' is more than the largest amount accepted, {MaxValue}";
        whole = whole.TrimStart('0');
        if (whole.Length > 13)
        {
            return tooLarge;
        }

        var dollars = whole.IsEmpty ? 0 : long.Parse(whole, NumberStyles.None, CultureInfo.InvariantCulture);
        if (dollars > MaxValue.Micros / MicrosPerDollar)
        {
            return tooLarge;
        }

        long micros = 0;
        for (var i = 0; i < 6; i++)
        {
            micros = (micros * 10) + (i < fraction.Length ? fraction[i] - '0' : 0);
        }

        var total = (dollars * MicrosPerDollar) + micros;
        if (total > MaxValue.Micros)
        {
            return tooLarge;
        }

        value = new Usd(total);
        return null;
    }

    /// <summary>Adds two amounts.</summary>
    public static Usd operator +(Usd left, Usd right) => new(checked(left.Micros + right.Micros));

    /// <summary>Subtracts one amount from another.</summary>
    public static Usd operator -(Usd left, Usd right) => new(checked(left.Micros - right.Micros));

    /// <summary>Compares two amounts.</summary>
    public static bool operator <(Usd left, Usd right) => left.Micros < right.Micros;

    /// <summary>Compares two amounts.</summary>
    public static bool operator >(Usd left, Usd right) => left.Micros > right.Micros;

    /// <summary>Compares two amounts.</summary>
    public static bool operator <=(Usd left, Usd right) => left.Micros <= right.Micros;

    /// <summary>Compares two amounts.</summary>
    public static bool operator >=(Usd left, Usd right) => left.Micros >= right.Micros;

    /// <inheritdoc />
    public int CompareTo(Usd other) => Micros.CompareTo(other.Micros);

    /// <summary>Formats the amount as dollars with at least two decimals, for example <c>$12.50</c> or <c>$0.0075</c>.</summary>
    public override string ToString()
    {
        var negative = Micros < 0;
        var magnitude = negative ? -(decimal)Micros : Micros;
        var dollars = decimal.Truncate(magnitude / MicrosPerDollar);
        var micros = (long)(magnitude - (dollars * MicrosPerDollar));
        var fraction = micros.ToString("D6", CultureInfo.InvariantCulture).TrimEnd('0');
        if (fraction.Length < 2)
        {
            fraction = fraction.PadRight(2, '0');
        }

        return string.Create(CultureInfo.InvariantCulture, $"{(negative ? "-" : string.Empty)}${dollars}.{fraction}");
    }

    private static bool AllDigits(ReadOnlySpan<char> span)
    {
        foreach (var c in span)
        {
            if (c is < '0' or > '9')
            {
                return false;
            }
        }

        return true;
    }
}
