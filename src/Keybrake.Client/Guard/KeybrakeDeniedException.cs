namespace Keybrake.Client;

/// <summary>
/// Thrown for a denied call when <see cref="KeybrakeOptions.ThrowOnDeny"/> is set. By default the guard
/// instead answers with the vendor's own error shape, so the SDK raises its ordinary exception.
/// </summary>
/// <remarks>Deliberately not an <see cref="HttpRequestException"/>: SDKs retry those, and a denial must not be retried.</remarks>
public sealed class KeybrakeDeniedException : Exception
{
    /// <summary>Creates the exception for a denial.</summary>
    public KeybrakeDeniedException(string reason, string message, string? keyId, string vendor, string? runId)
        : base(message)
    {
        Reason = reason;
        KeyId = keyId;
        Vendor = vendor;
        RunId = runId;
    }

    /// <summary>One of <see cref="ReasonCodes"/>.</summary>
    public string Reason { get; }

    /// <summary>The key id, when the brake key was known.</summary>
    public string? KeyId { get; }

    /// <summary>The vendor the call was for.</summary>
    public string Vendor { get; }

    /// <summary>The run the call belonged to, if any.</summary>
    public string? RunId { get; }

    /// <summary>The HTTP status a vendor-shaped denial would have carried.</summary>
    public int StatusCode => ReasonCodes.StatusCodeFor(Reason);
}
