namespace Keybrake.Client.Twilio;

/// <summary>What the Twilio profile learns about a cost-bearing call between its request and its response.</summary>
internal sealed class TwilioCallState
{
    public TwilioCallState(TwilioEndpointKind kind) => Kind = kind;

    public TwilioEndpointKind Kind { get; }
}
