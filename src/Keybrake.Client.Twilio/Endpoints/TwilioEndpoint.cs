namespace Keybrake.Client.Twilio;

/// <summary>What a Twilio endpoint means to the guard.</summary>
internal enum TwilioEndpointKind
{
    /// <summary>Costs nothing the guard counts; its response may still report prices of earlier messages and calls.</summary>
    Other,

    /// <summary><c>POST .../Messages.json</c>: an SMS or MMS, estimated from its body, media and destination.</summary>
    MessageCreate,

    /// <summary><c>POST .../Calls.json</c>: a phone call, estimated at the policy's per-request maximum and priced later.</summary>
    CallCreate,

    /// <summary>Other calls that cost money (buying a number, a Verify check): the policy's per-request maximum, committed.</summary>
    PerRequest,
}
