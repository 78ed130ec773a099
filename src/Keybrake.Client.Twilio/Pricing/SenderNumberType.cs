namespace Keybrake.Client.Twilio;

/// <summary>
/// The Pricing API's <c>number_type</c> a sender is known to be from its form alone: a short code (digits, no
/// <c>+</c>) or a North American toll-free number. Anything else (a local or mobile long code, an alphanumeric sender
/// id, a Messaging Service that picks its own sender) is unknown, and is estimated at the dearest type.
/// </summary>
internal static class SenderNumberType
{
    private static readonly string[] s_tollFree = ["800", "833", "844", "855", "866", "877", "888"];

    public static string? Of(string? from)
    {
        if (string.IsNullOrEmpty(from))
        {
            return null;
        }

        if (from.Length is >= 3 and <= 8 && !from.AsSpan().ContainsAnyExceptInRange('0', '9'))
        {
            return "shortcode";
        }

        if (from.Length == 12 && from.StartsWith("+1", StringComparison.Ordinal))
        {
            foreach (var code in s_tollFree)
            {
                if (from.AsSpan(2, 3).SequenceEqual(code))
                {
                    return "toll free";
                }
            }
        }

        return null;
    }
}
