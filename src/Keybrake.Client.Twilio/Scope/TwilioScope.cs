namespace Keybrake.Client.Twilio;

/// <summary>
/// The Twilio allowlists and limits: <c>destinations</c> (E.164 prefixes a message or call may go to),
/// <c>senders</c> (<c>From</c> values and Messaging Service SIDs it may come from) and the <c>maxSegments</c>
/// limit. A list that is present allows only its values.
/// </summary>
internal static class TwilioScope
{
    public const string Destinations = "destinations";
    public const string Senders = "senders";
    public const string MaxSegments = "maxSegments";

    public static readonly string[] Names = [Destinations, Senders];

    public static readonly string[] LimitNames = [MaxSegments];

    /// <summary>Checks <c>To</c> against the destination prefixes: a value that is not an E.164 number matches none.</summary>
    public static GuardDenial? CheckDestination(VendorCall call, string to)
    {
        if (call.GetAllowlist(Destinations) is not { } allowed || (E164.IsE164(to) && E164.MatchesAnyPrefix(to, allowed)))
        {
            return null;
        }

        return new GuardDenial(
            ReasonCodes.RecipientNotAllowed,
            $"key '{call.KeyId}' may reach only {Describe(allowed)}, and this call goes to a destination outside them");
    }

    /// <summary>Checks <c>From</c> and <c>MessagingServiceSid</c>: each one sent must be allowed, and one must be sent.</summary>
    public static GuardDenial? CheckSender(VendorCall call, string? from, string? messagingServiceSid)
    {
        if (call.GetAllowlist(Senders) is not { } allowed)
        {
            return null;
        }

        if (from is null && messagingServiceSid is null)
        {
            return Denied(call, "the call names no sender (From or MessagingServiceSid)");
        }

        if (from is not null && !allowed.Contains(from))
        {
            return Denied(call, $"From '{from}' is not one of them");
        }

        return messagingServiceSid is not null && !allowed.Contains(messagingServiceSid)
            ? Denied(call, $"MessagingServiceSid '{messagingServiceSid}' is not one of them")
            : null;
    }

    private static GuardDenial Denied(VendorCall call, string why) =>
        new(ReasonCodes.AccountNotAllowed, $"key '{call.KeyId}' may send only from its allowed senders, and {why}");

    // Prefixes are the operator's own configuration, not personal data; long lists are cut short.
    private static string Describe(IReadOnlySet<string> allowed) =>
        allowed.Count <= 5 ? "the prefixes " + string.Join(", ", allowed.Order(StringComparer.Ordinal)) : $"its {allowed.Count} allowed prefixes";
}
