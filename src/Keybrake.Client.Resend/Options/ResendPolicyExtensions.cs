namespace Keybrake.Client.Resend;

/// <summary>Resend scope on a key's policy, in code.</summary>
public static class ResendPolicyExtensions
{
    /// <summary>
    /// Allows email only to recipients (to, cc and bcc) at these domains. Matching ignores case and is exact:
    /// <c>example.com</c> does not allow <c>mail.example.com</c>; write <c>*.example.com</c> to allow its subdomains.
    /// </summary>
    public static KeybrakePolicyOptions AllowResendRecipientDomains(this KeybrakePolicyOptions policy, params string[] domains)
    {
        ArgumentNullException.ThrowIfNull(policy);
        return policy.Allow(ResendScope.RecipientDomains, domains);
    }

    /// <summary>
    /// Limits how many recipients (to + cc + bcc) one email, and one call (every email of a batch together), may reach.
    /// </summary>
    public static KeybrakePolicyOptions LimitResendRecipients(this KeybrakePolicyOptions policy, long? perEmail = null, long? perRequest = null)
    {
        ArgumentNullException.ThrowIfNull(policy);
        if (perEmail is { } email)
        {
            policy.Limits[ResendScope.MaxRecipientsPerEmail] = email;
        }

        if (perRequest is { } request)
        {
            policy.Limits[ResendScope.MaxRecipientsPerRequest] = request;
        }

        return policy;
    }
}
