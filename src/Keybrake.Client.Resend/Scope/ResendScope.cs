using System.Globalization;

namespace Keybrake.Client.Resend;

/// <summary>
/// The Resend scope of a key's policy: the <c>recipientDomains</c> allowlist, and the limits
/// <c>maxRecipientsPerEmail</c> (to + cc + bcc of one email) and <c>maxRecipientsPerRequest</c> (all the emails of
/// one call, so a batch counts every email). Breaking any of them is <c>recipient_not_allowed</c>.
/// </summary>
internal static class ResendScope
{
    public const string RecipientDomains = "recipientDomains";
    public const string MaxRecipientsPerEmail = "maxRecipientsPerEmail";
    public const string MaxRecipientsPerRequest = "maxRecipientsPerRequest";

    public static readonly string[] ScopeNames = [RecipientDomains];
    public static readonly string[] LimitNames = [MaxRecipientsPerEmail, MaxRecipientsPerRequest];

    public static GuardDenial? CheckCounts(VendorCall call, EmailRecipients[] emails, long total)
    {
        if (call.GetLimit(MaxRecipientsPerEmail) is { } perEmail)
        {
            for (var i = 0; i < emails.Length; i++)
            {
                if (emails[i].Count > perEmail)
                {
                    var which = emails.Length == 1 ? "the email" : string.Create(CultureInfo.InvariantCulture, $"email {i} of the batch");
                    return Denied(string.Create(CultureInfo.InvariantCulture, $"{which} has {emails[i].Count} recipients (to + cc + bcc), over the key's {MaxRecipientsPerEmail} of {perEmail}"));
                }
            }
        }

        if (call.GetLimit(MaxRecipientsPerRequest) is { } perRequest && total > perRequest)
        {
            return Denied(string.Create(CultureInfo.InvariantCulture, $"the request reaches {total} recipients (to + cc + bcc of every email), over the key's {MaxRecipientsPerRequest} of {perRequest}"));
        }

        return null;
    }

    /// <summary>Checks every recipient's domain; a recipient whose domain cannot be read cannot be checked, so it is refused.</summary>
    public static GuardDenial? CheckDomains(DomainAllowlist allowed, EmailRecipients[] emails)
    {
        for (var i = 0; i < emails.Length; i++)
        {
            var email = emails[i];
            var denial = Check(allowed, email.To, "to", i, emails.Length)
                ?? Check(allowed, email.Cc, "cc", i, emails.Length)
                ?? Check(allowed, email.Bcc, "bcc", i, emails.Length);
            if (denial is not null)
            {
                return denial;
            }
        }

        return null;
    }

    private static GuardDenial? Check(DomainAllowlist allowed, string[] recipients, string field, int email, int emails)
    {
        for (var r = 0; r < recipients.Length; r++)
        {
            // The message names the field and position, and at most the domain: never the address itself.
            var where = emails == 1
                ? string.Create(CultureInfo.InvariantCulture, $"recipient {r} of '{field}'")
                : string.Create(CultureInfo.InvariantCulture, $"recipient {r} of '{field}' in email {email} of the batch");
            if (!RecipientAddress.TryGetDomain(recipients[r], out var domain, out var problem))
            {
                return new GuardDenial(ReasonCodes.MalformedRequest, $"{where} {problem}, so its domain cannot be checked against the key's {RecipientDomains} allowlist");
            }

            if (!allowed.Allows(domain))
            {
                return Denied($"{where} is at '{domain}', which is not in the key's {RecipientDomains} allowlist");
            }
        }

        return null;
    }

    private static GuardDenial Denied(string message) => new(ReasonCodes.RecipientNotAllowed, message);
}
