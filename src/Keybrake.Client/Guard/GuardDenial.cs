namespace Keybrake.Client;

/// <summary>A denial the guard or a vendor profile reached: the reason code and a message for the agent's developer.</summary>
/// <param name="Reason">One of <see cref="ReasonCodes"/>.</param>
/// <param name="Message">What was denied and why. Never contains a secret.</param>
public readonly record struct GuardDenial(string Reason, string Message)
{
    /// <summary>The HTTP status the denial response carries.</summary>
    public int StatusCode => ReasonCodes.StatusCodeFor(Reason);
}
