namespace Keybrake.Client;

/// <summary>
/// The vendor's answer to a lookup a profile sent with <see cref="VendorCall.SendLookupAsync"/>: its status and
/// body, or why there is none. It is the profile's alone: never forwarded to the SDK, logged or audited.
/// </summary>
public sealed class VendorLookup
{
    internal VendorLookup(int statusCode, ReadOnlyMemory<byte> body, string? failure, TimeSpan latency)
    {
        StatusCode = statusCode;
        Body = body;
        Failure = failure;
        Latency = latency;
    }

    /// <summary>The HTTP status the vendor answered with; 0 when it did not answer (timeout, connection failure).</summary>
    public int StatusCode { get; }

    /// <summary>The response body; empty when there was no answer or it was larger than the guard reads.</summary>
    public ReadOnlyMemory<byte> Body { get; }

    /// <summary>
    /// Why there is no usable answer, in words fit for a denial message (such as <c>timed out after 3 s</c>), or
    /// <see langword="null"/> when the vendor answered. Never contains the secret.
    /// </summary>
    public string? Failure { get; }

    /// <summary>How long the lookup took.</summary>
    public TimeSpan Latency { get; }

    /// <summary>Whether the vendor answered with a 2xx status and a body the guard read whole.</summary>
    public bool IsSuccess => Failure is null && StatusCode is >= 200 and <= 299;
}
