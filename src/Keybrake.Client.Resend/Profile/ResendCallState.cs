namespace Keybrake.Client.Resend;

/// <summary>What the Resend profile learns about a send between its request and its response.</summary>
internal sealed class ResendCallState
{
    public ResendCallState(ResendEndpointKind kind) => Kind = kind;

    public ResendEndpointKind Kind { get; }

    /// <summary>The emails of the send, in request order (a batch's indexes).</summary>
    public EmailRecipients[] Emails { get; set; } = [];

    /// <summary>The key's price of one email (one recipient).</summary>
    public Usd PricePerEmail { get; set; }
}
