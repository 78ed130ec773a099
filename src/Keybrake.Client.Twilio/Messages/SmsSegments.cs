using System.Buffers;

namespace Keybrake.Client.Twilio;

/// <summary>How a message body is encoded on the air interface.</summary>
internal enum SmsEncoding
{
    /// <summary>The GSM 03.38 7-bit default alphabet: 160 septets in one SMS, 153 per part when concatenated.</summary>
    Gsm7,

    /// <summary>UCS-2 (UTF-16 code units): 70 in one SMS, 67 per part when concatenated.</summary>
    Ucs2,
}

/// <summary>A body's encoding and the SMS segments it is billed as.</summary>
/// <param name="Encoding">GSM-7 when every character is in the GSM alphabet or its extension table, else UCS-2.</param>
/// <param name="Segments">How many segments Twilio bills (at least one).</param>
/// <param name="Units">Septets (GSM-7, extension characters count two) or UTF-16 code units (UCS-2).</param>
internal readonly record struct SegmentCount(SmsEncoding Encoding, int Segments, int Units);

/// <summary>
/// Counts SMS segments the way carriers split a message: GSM-7 when every character is in the GSM 03.38
/// default alphabet or its extension table (whose characters take an escape septet, so count two), UCS-2
/// otherwise; one segment up to 160 septets or 70 code units, else parts of 153 septets or 67 code units,
/// never splitting an escape pair or a surrogate pair across two parts.
/// </summary>
/// <remarks>
/// Twilio's optional Smart Encoding may turn some Unicode look-alikes into GSM characters and so bill fewer
/// segments; counting without it errs on the side of a larger reservation, which settles to the real price.
/// </remarks>
internal static class SmsSegments
{
    public const int Gsm7Single = 160;
    public const int Gsm7Part = 153;
    public const int Ucs2Single = 70;
    public const int Ucs2Part = 67;

    private static readonly SearchValues<char> s_basic = SearchValues.Create(
        "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
        + "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà");

    private static readonly SearchValues<char> s_extension = SearchValues.Create("\f^{}\\[~]|€");

    private static readonly SearchValues<char> s_gsm7 = SearchValues.Create(
        "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
        + "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
        + "\f^{}\\[~]|€");

    public static SegmentCount Count(ReadOnlySpan<char> body)
    {
        // Fast path: nothing outside the basic alphabet, so every character is one septet.
        var firstOther = body.IndexOfAnyExcept(s_basic);
        if (firstOther < 0)
        {
            return body.Length <= Gsm7Single
                ? new SegmentCount(SmsEncoding.Gsm7, 1, body.Length)
                : new SegmentCount(SmsEncoding.Gsm7, (body.Length + Gsm7Part - 1) / Gsm7Part, body.Length);
        }

        if (body[firstOther..].IndexOfAnyExcept(s_gsm7) < 0)
        {
            return CountGsm7(body);
        }

        return CountUcs2(body);
    }

    private static SegmentCount CountGsm7(ReadOnlySpan<char> body)
    {
        var septets = 0;
        foreach (var c in body)
        {
            septets += s_extension.Contains(c) ? 2 : 1;
        }

        if (septets <= Gsm7Single)
        {
            return new SegmentCount(SmsEncoding.Gsm7, 1, septets);
        }

        // Concatenated: fill parts of 153 septets; an escape pair that would straddle two parts moves whole.
        var segments = 1;
        var used = 0;
        foreach (var c in body)
        {
            var width = s_extension.Contains(c) ? 2 : 1;
            if (used + width > Gsm7Part)
            {
                segments++;
                used = 0;
            }

            used += width;
        }

        return new SegmentCount(SmsEncoding.Gsm7, segments, septets);
    }

    private static SegmentCount CountUcs2(ReadOnlySpan<char> body)
    {
        if (body.Length <= Ucs2Single)
        {
            return new SegmentCount(SmsEncoding.Ucs2, 1, body.Length);
        }

        // Concatenated: parts of 67 code units; a surrogate pair (an emoji, say) is never split.
        var segments = 1;
        var used = 0;
        for (var i = 0; i < body.Length; i++)
        {
            var width = char.IsHighSurrogate(body[i]) && i + 1 < body.Length && char.IsLowSurrogate(body[i + 1]) ? 2 : 1;
            if (used + width > Ucs2Part)
            {
                segments++;
                used = 0;
            }

            used += width;
            i += width - 1;
        }

        return new SegmentCount(SmsEncoding.Ucs2, segments, body.Length);
    }
}
