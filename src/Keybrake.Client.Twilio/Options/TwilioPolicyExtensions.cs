namespace Keybrake.Client.Twilio;

/// <summary>Twilio allowlists and limits on a key's policy, in code.</summary>
public static class TwilioPolicyExtensions
{
    /// <summary>Allows messages and calls only to numbers starting with these E.164 prefixes (<c>+1415</c>, <c>+44</c>) or equal to these numbers.</summary>
    public static KeybrakePolicyOptions AllowTwilioDestinations(this KeybrakePolicyOptions policy, params string[] e164Prefixes)
    {
        ArgumentNullException.ThrowIfNull(policy);
        return policy.Allow(TwilioScope.Destinations, e164Prefixes);
    }

    /// <summary>Allows sending only from these senders: <c>From</c> values (numbers, short codes, alphanumeric ids) and Messaging Service SIDs (<c>MG...</c>).</summary>
    public static KeybrakePolicyOptions AllowTwilioSenders(this KeybrakePolicyOptions policy, params string[] senders)
    {
        ArgumentNullException.ThrowIfNull(policy);
        return policy.Allow(TwilioScope.Senders, senders);
    }

    /// <summary>Denies any message that would be billed as more than <paramref name="segments"/> SMS segments.</summary>
    public static KeybrakePolicyOptions LimitTwilioSegments(this KeybrakePolicyOptions policy, int segments)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(segments);
        policy.Limits[TwilioScope.MaxSegments] = segments;
        return policy;
    }
}
