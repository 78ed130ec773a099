namespace Keybrake.Client.Twilio;

/// <summary>Twilio's prices: decimal strings, negative for a charge (<c>"-0.00750"</c>), in <c>price_unit</c>.</summary>
internal static class TwilioPrice
{
    private const int MaxWholeDigits = 12;

    /// <summary>
    /// The charge as micro-USD (its absolute value, rounded up to the next micro-dollar). Returns
    /// <see langword="false"/> for a price in another currency or one that is not a decimal number.
    /// </summary>
    public static bool TryToUsd(string price, string? priceUnit, out Usd usd)
    {
        usd = Usd.Zero;
        if (!string.Equals(priceUnit, "USD", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        var span = price.AsSpan().Trim();
        if (span.StartsWith('-') || span.StartsWith('+'))
        {
            span = span[1..];
        }

        var point = span.IndexOf('.');
        var whole = point < 0 ? span : span[..point];
        var fraction = point < 0 ? ReadOnlySpan<char>.Empty : span[(point + 1)..];
        if (whole.IsEmpty || whole.Length > MaxWholeDigits || fraction.Length > 18 || (point >= 0 && fraction.IsEmpty)
            || whole.IndexOfAnyExceptInRange('0', '9') >= 0 || fraction.IndexOfAnyExceptInRange('0', '9') >= 0)
        {
            return false;
        }

        long micros = 0;
        foreach (var digit in whole)
        {
            micros = checked((micros * 10) + (digit - '0'));
        }

        for (var i = 0; i < 6; i++)
        {
            micros = checked((micros * 10) + (i < fraction.Length ? fraction[i] - '0' : 0));
        }

        // Digits past the sixth round up: a settlement may be a fraction of a micro-dollar high, never low.
        if (fraction.Length > 6 && fraction[6..].IndexOfAnyExcept('0') >= 0)
        {
            micros = checked(micros + 1);
        }

        if (micros > Usd.MaxValue.Micros)
        {
            return false;
        }

        usd = Usd.FromMicros(micros);
        return true;
    }
}
