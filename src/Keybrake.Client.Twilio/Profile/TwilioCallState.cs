namespace Keybrake.Client.Twilio;

/// <summary>
/// What the Twilio profile learns about a cost-bearing call between its request and its response. Immutable: one
/// shared instance per endpoint kind, so a call allocates none; only a message waiting for the Pricing API gets its own.
/// </summary>
internal sealed class TwilioCallState
{
    private static readonly TwilioCallState[] s_byKind = [.. Enum.GetValues<TwilioEndpointKind>().Select(kind => new TwilioCallState(kind, null))];

    private TwilioCallState(TwilioEndpointKind kind, PendingQuote? quote)
    {
        Kind = kind;
        Quote = quote;
    }

    public TwilioEndpointKind Kind { get; }

    /// <summary>A message whose SMS rate the Pricing API is to give before its estimate is set; <see langword="null"/> otherwise.</summary>
    public PendingQuote? Quote { get; }

    public static TwilioCallState For(TwilioEndpointKind kind) => s_byKind[(int)kind];

    public TwilioCallState WithQuote(PendingQuote quote) => new(Kind, quote);
}

/// <summary>What a message's estimate needs once its country's rate is known.</summary>
internal sealed record PendingQuote(string Country, int Segments, int Media, string? SenderNumberType);
