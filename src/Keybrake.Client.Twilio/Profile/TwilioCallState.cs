namespace Keybrake.Client.Twilio;

/// <summary>What the Twilio profile learns about a cost-bearing call between its request and its response.</summary>
internal sealed class TwilioCallState
{
    public TwilioCallState(TwilioEndpointKind kind) => Kind = kind;

    public TwilioEndpointKind Kind { get; }

    /// <summary>A message whose SMS rate the Pricing API is to give before its estimate is set; <see langword="null"/> otherwise.</summary>
    public PendingQuote? Quote { get; set; }
}

/// <summary>What a message's estimate needs once its country's rate is known.</summary>
internal sealed record PendingQuote(string Country, int Segments, int Media, string? SenderNumberType);
