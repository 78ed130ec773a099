namespace Keybrake.Client;

/// <summary>
/// One guarded call, allowed or denied. Holds the key id and never a secret; parameters keep amounts,
/// currencies and ids and redact card data, contact details and free text.
/// </summary>
public sealed class AuditRecord
{
    /// <summary>A unique, time-ordered id; the budget service de-duplicates by it.</summary>
    public required string RecordId { get; init; }

    /// <summary>When the call reached the guard, in UTC.</summary>
    public required DateTimeOffset Timestamp { get; init; }

    /// <summary>The key id, or empty when the request carried no known brake key.</summary>
    public required string KeyId { get; init; }

    /// <summary>The vendor, such as <c>stripe</c>.</summary>
    public required string Vendor { get; init; }

    /// <summary>
    /// The host the request was addressed to, with the port when it is not the scheme's default, such as
    /// <c>api.stripe.com</c>; <see langword="null"/> when the request had no absolute address.
    /// </summary>
    public string? Host { get; init; }

    /// <summary>The HTTP method.</summary>
    public required string Method { get; init; }

    /// <summary>The endpoint with ids replaced by placeholders, such as <c>/v1/charges/{id}/capture</c>.</summary>
    public required string Endpoint { get; init; }

    /// <summary>The request's parameters, redacted.</summary>
    public IReadOnlyDictionary<string, string>? Parameters { get; init; }

    /// <summary>What the guard reserved before forwarding, in micro-USD (zero for calls that cost nothing).</summary>
    public long EstimatedMicroUsd { get; init; }

    /// <summary>What the call really cost once settled, in micro-USD; <see langword="null"/> when denied, released or held.</summary>
    public long? SettledMicroUsd { get; init; }

    /// <summary><c>allow</c> or <c>deny</c>.</summary>
    public required string Decision { get; init; }

    /// <summary>The reason code of a denial (see <see cref="ReasonCodes"/>), or <see langword="null"/>.</summary>
    public string? Reason { get; init; }

    /// <summary>The denial message, or a note on an allowed call's outcome.</summary>
    public string? Message { get; init; }

    /// <summary>How the reservation ended: <c>commit</c>, <c>release</c>, <c>hold</c>, <c>deferred</c> (open until a later response reports the price), <c>replay</c>, or <see langword="null"/> when none was made.</summary>
    public string? Settlement { get; init; }

    /// <summary>The reservation, for calls that cost money.</summary>
    public string? ReservationId { get; init; }

    /// <summary>The agent run, if any.</summary>
    public string? RunId { get; init; }

    /// <summary>The call's idempotency key, if any.</summary>
    public string? IdempotencyKey { get; init; }

    /// <summary>The HTTP status the caller got (the denial's for a denied call); <see langword="null"/> when the vendor never answered.</summary>
    public int? HttpStatus { get; init; }

    /// <summary>Time from the guard receiving the call to the answer, in microseconds.</summary>
    public long LatencyMicroseconds { get; init; }
}
