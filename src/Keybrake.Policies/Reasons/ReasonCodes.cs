namespace Keybrake.Policies;

/// <summary>
/// Why the guard denied a call. The code appears in the <c>Keybrake-Decision</c> response header, in the
/// vendor-shaped error (Stripe: <c>keybrake_&lt;code&gt;</c>), in audit records and in metrics.
/// </summary>
public static class ReasonCodes
{
    /// <summary>The key was revoked.</summary>
    public const string KeyRevoked = "key_revoked";

    /// <summary>The request carries no brake key, or one this process does not know.</summary>
    public const string KeyUnknown = "key_unknown";

    /// <summary>An endpoint rule denies the call, or no allow rule matches it.</summary>
    public const string EndpointNotAllowed = "endpoint_not_allowed";

    /// <summary>The call names a customer outside the key's allowlist, or one Keybrake cannot check.</summary>
    public const string CustomerNotAllowed = "customer_not_allowed";

    /// <summary>The call acts for a connected account outside the key's allowlist.</summary>
    public const string AccountNotAllowed = "account_not_allowed";

    /// <summary>The call reaches a recipient outside the key's allowlist.</summary>
    public const string RecipientNotAllowed = "recipient_not_allowed";

    /// <summary>The call would cost more than the key's per-request maximum.</summary>
    public const string AmountOverRequestLimit = "amount_over_request_limit";

    /// <summary>The call would take the key's spend for the day past its daily cap.</summary>
    public const string DailyCapExceeded = "daily_cap_exceeded";

    /// <summary>The call would take the run's spend past the key's per-run cap.</summary>
    public const string RunCapExceeded = "run_cap_exceeded";

    /// <summary>The key made more calls in the last minute than its policy allows.</summary>
    public const string RateLimited = "rate_limited";

    /// <summary>The same request was sent more times within the window than the loop breaker allows.</summary>
    public const string LoopDetected = "loop_detected";

    /// <summary>The call is in a currency Keybrake has no rate for; it is denied rather than guessed.</summary>
    public const string UnknownCurrency = "unknown_currency";

    /// <summary>The budget service could not be reached and the call costs money.</summary>
    public const string BudgetServiceUnavailable = "budget_service_unavailable";

    /// <summary>The request body is larger than the guard reads.</summary>
    public const string RequestTooLarge = "request_too_large";

    /// <summary>The request cannot be understood well enough to be checked.</summary>
    public const string MalformedRequest = "malformed_request";

    /// <summary>
    /// The request names a host the vendor's secret may not go to: not <c>https</c> to one of the vendor's own
    /// hosts, nor the stand-in the key's <c>VendorEndpoint</c> names. Nothing is sent.
    /// </summary>
    public const string HostNotAllowed = "host_not_allowed";

    /// <summary>
    /// The call refers to an object (the charge a refund names, say) that neither the guard nor the budget service
    /// has seen, and looking it up at the vendor failed (not found, timed out, a vendor error), so its cost or
    /// owner cannot be known. The key's policy may reserve its per-request maximum instead (<c>UnknownObjects</c>).
    /// </summary>
    public const string ObjectLookupFailed = "object_lookup_failed";

    /// <summary>
    /// The call carried a vendor secret the budget service has since rotated, and the rotation's overlap window has
    /// passed. The guard fetches the new secret and asks once more, so an agent sees this only when that fails too.
    /// </summary>
    public const string SecretRotated = "secret_rotated";

    /// <summary>
    /// A client credential asked the budget service for the vendor secret of a key outside its scope. Refused, and
    /// audited by the service under that key.
    /// </summary>
    public const string SecretRefused = "secret_refused";

    /// <summary>Every reason code, for validation and documentation.</summary>
    public static IReadOnlyList<string> All { get; } =
    [
        KeyRevoked, KeyUnknown, EndpointNotAllowed, CustomerNotAllowed, AccountNotAllowed, RecipientNotAllowed,
        AmountOverRequestLimit, DailyCapExceeded, RunCapExceeded, RateLimited, LoopDetected, UnknownCurrency,
        BudgetServiceUnavailable, RequestTooLarge, MalformedRequest, HostNotAllowed, ObjectLookupFailed, SecretRotated, SecretRefused,
    ];

    /// <summary>
    /// The HTTP status a denial carries: 401 for keys, 402 for money limits, 403 for policy, 429 for rate and
    /// loop limits, 400/413 for bad requests, 424 when the budget service is down or a lookup at the vendor
    /// failed. None of them is a status
    /// the vendors' SDKs retry (409 or 5xx).
    /// </summary>
    public static int StatusCodeFor(string reason) => reason switch
    {
        KeyRevoked or KeyUnknown or SecretRotated => 401,
        AmountOverRequestLimit or DailyCapExceeded or RunCapExceeded => 402,
        EndpointNotAllowed or CustomerNotAllowed or AccountNotAllowed or RecipientNotAllowed or HostNotAllowed or SecretRefused => 403,
        RateLimited or LoopDetected => 429,
        RequestTooLarge => 413,
        BudgetServiceUnavailable or ObjectLookupFailed => 424,
        _ => 400,
    };
}
