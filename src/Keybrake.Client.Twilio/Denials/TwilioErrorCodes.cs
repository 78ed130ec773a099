namespace Keybrake.Client.Twilio;

/// <summary>
/// The numeric <c>code</c> of a Keybrake denial in Twilio's error shape. Twilio's own codes have five digits;
/// Keybrake's have six, from 900001, so they never collide with one Twilio documents. The reason itself is the
/// first word of the message: <c>keybrake_daily_cap_exceeded: ...</c>.
/// </summary>
public static class TwilioErrorCodes
{
    /// <summary>The code of a reason this version does not know.</summary>
    public const int Unknown = 900000;

    private static readonly Dictionary<string, int> s_codes = new(StringComparer.Ordinal)
    {
        [ReasonCodes.KeyRevoked] = 900001,
        [ReasonCodes.KeyUnknown] = 900002,
        [ReasonCodes.EndpointNotAllowed] = 900003,
        [ReasonCodes.CustomerNotAllowed] = 900004,
        [ReasonCodes.AccountNotAllowed] = 900005,
        [ReasonCodes.RecipientNotAllowed] = 900006,
        [ReasonCodes.AmountOverRequestLimit] = 900007,
        [ReasonCodes.DailyCapExceeded] = 900008,
        [ReasonCodes.RunCapExceeded] = 900009,
        [ReasonCodes.RateLimited] = 900010,
        [ReasonCodes.LoopDetected] = 900011,
        [ReasonCodes.UnknownCurrency] = 900012,
        [ReasonCodes.BudgetServiceUnavailable] = 900013,
        [ReasonCodes.RequestTooLarge] = 900014,
        [ReasonCodes.MalformedRequest] = 900015,
        [ReasonCodes.HostNotAllowed] = 900016,
        [ReasonCodes.ObjectLookupFailed] = 900017,
        [ReasonCodes.SecretRotated] = 900018,
        [ReasonCodes.SecretRefused] = 900019,
    };

    /// <summary>The prefix of the message's first word, before the reason code.</summary>
    public const string MessagePrefix = "keybrake_";

    /// <summary>The numeric code for a reason such as <c>daily_cap_exceeded</c> (900008).</summary>
    public static int For(string reason) => s_codes.GetValueOrDefault(reason, Unknown);

    /// <summary>The reason a Twilio <c>ApiException</c> message names, or <see langword="null"/> when it is not a Keybrake denial.</summary>
    public static string? ReasonOf(string? message)
    {
        if (message is null || !message.StartsWith(MessagePrefix, StringComparison.Ordinal))
        {
            return null;
        }

        var end = message.IndexOf(':', StringComparison.Ordinal);
        return end < 0 ? null : message[MessagePrefix.Length..end];
    }
}
