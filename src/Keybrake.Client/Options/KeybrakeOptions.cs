using System.ComponentModel.DataAnnotations;

namespace Keybrake.Client;

/// <summary>
/// Keybrake's settings, bound from the <c>Keybrake</c> configuration section and validated at start-up.
/// </summary>
public sealed class KeybrakeOptions
{
    /// <summary>The configuration section <c>AddKeybrake</c> binds.</summary>
    public const string SectionName = "Keybrake";

    /// <summary>
    /// The brake keys this process knows, by key id. The key id is what audit records, logs and metrics
    /// carry; the brake key and the vendor secret never appear there.
    /// </summary>
    public IDictionary<string, KeybrakeKeyOptions> Keys { get; } = new Dictionary<string, KeybrakeKeyOptions>(StringComparer.Ordinal);

    /// <summary>
    /// The largest request body the guard reads, in bytes (default 256 KiB). A larger body is denied
    /// with <c>request_too_large</c> without being forwarded.
    /// </summary>
    [Range(1024, 64 * 1024 * 1024)]
    public int MaxRequestBodyBytes { get; set; } = 256 * 1024;

    /// <summary>
    /// The largest response body the guard reads to learn the real cost of a call, in bytes (default 1 MiB).
    /// A larger response settles at the estimate.
    /// </summary>
    [Range(1024, 64 * 1024 * 1024)]
    public int MaxResponseBodyBytes { get; set; } = 1024 * 1024;

    /// <summary>
    /// When <see langword="true"/>, a denied call throws <see cref="KeybrakeDeniedException"/> instead of
    /// returning the vendor-shaped error response the SDK turns into its own exception.
    /// </summary>
    public bool ThrowOnDeny { get; set; }

    /// <summary>The default of <see cref="LookupTimeout"/>: three seconds.</summary>
    public static readonly TimeSpan DefaultLookupTimeout = TimeSpan.FromSeconds(3);

    /// <summary>
    /// How long a vendor profile waits for a lookup it makes before deciding a call (default 3 s), such as the
    /// Stripe charge a refund names when the guard never saw it. A lookup that takes longer fails, and the call
    /// is decided as the key's <see cref="KeybrakePolicyOptions.UnknownObjects"/> says.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:01:00")]
    public TimeSpan LookupTimeout { get; set; } = DefaultLookupTimeout;

    /// <summary>Where audit records are written.</summary>
    public KeybrakeAuditOptions Audit { get; set; } = new();

    /// <summary>Configuration values that could not be bound; reported by validation at start-up.</summary>
    internal List<string> ConfigurationErrors { get; } = [];

    /// <summary>Adds or replaces a key in code; returns the key's options for further setup.</summary>
    /// <param name="keyId">The id audit records and metrics use for this key.</param>
    /// <param name="configure">Sets the brake key, vendor, secret and policy.</param>
    public KeybrakeOptions AddKey(string keyId, Action<KeybrakeKeyOptions> configure)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(keyId);
        ArgumentNullException.ThrowIfNull(configure);
        if (!Keys.TryGetValue(keyId, out var key))
        {
            key = new KeybrakeKeyOptions();
            Keys[keyId] = key;
        }

        configure(key);
        return this;
    }
}

/// <summary>Where the guard writes its audit records.</summary>
public sealed class KeybrakeAuditOptions
{
    /// <summary>
    /// A file that receives one JSON object per guarded call (JSON lines), appended to. Empty for none.
    /// </summary>
    public string? FilePath { get; set; }
}
