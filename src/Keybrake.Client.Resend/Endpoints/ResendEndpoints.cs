namespace Keybrake.Client.Resend;

/// <summary>What a Resend endpoint does with money: the sends the guard counts, and everything else.</summary>
internal enum ResendEndpointKind
{
    /// <summary>Sends nothing: reads, domains, contacts, templates and the like. Endpoint rules govern them.</summary>
    Other,

    /// <summary><c>POST /emails</c>: one email, billed per recipient.</summary>
    SendEmail,

    /// <summary><c>POST /emails/batch</c>: up to 100 emails, each billed per recipient.</summary>
    SendBatch,

    /// <summary>
    /// <c>POST /broadcasts/{id}/send</c>: a send to a whole segment, whose size the request does not say. It
    /// reserves the key's per-request maximum, or is denied when the policy sets none.
    /// </summary>
    SendBroadcast,
}

/// <summary>Classifies Resend paths (<c>https://api.resend.com/...</c>) and templates them for audit records.</summary>
internal static class ResendEndpoints
{
    public const string Emails = "/emails";
    public const string EmailsBatch = "/emails/batch";
    public const string BroadcastSend = "/broadcasts/{id}/send";

    public static ResendEndpointKind Classify(string method, IReadOnlyList<string> segments)
    {
        if (method != "POST" || segments.Count == 0)
        {
            return ResendEndpointKind.Other;
        }

        return segments switch
        {
            ["emails"] => ResendEndpointKind.SendEmail,
            ["emails", "batch"] => ResendEndpointKind.SendBatch,
            ["broadcasts", _, "send"] => ResendEndpointKind.SendBroadcast,
            _ => ResendEndpointKind.Other,
        };
    }

    /// <summary>The path with Resend's ids (UUIDs) replaced by <c>{id}</c>, such as <c>/emails/{id}/cancel</c>.</summary>
    public static string TemplateOf(ResendEndpointKind kind, IReadOnlyList<string> segments)
    {
        switch (kind)
        {
            case ResendEndpointKind.SendEmail:
                return Emails;
            case ResendEndpointKind.SendBatch:
                return EmailsBatch;
            case ResendEndpointKind.SendBroadcast:
                return BroadcastSend;
        }

        var parts = new string[segments.Count];
        for (var i = 0; i < parts.Length; i++)
        {
            parts[i] = Guid.TryParse(segments[i], out _) ? "{id}" : segments[i];
        }

        return "/" + string.Join('/', parts);
    }
}
