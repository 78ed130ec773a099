using Keybrake.Protocol;

namespace Keybrake.BudgetService.Keys;

/// <summary>
/// One key as the service enforces it: the policy compiled, with the message it came from; and the version of the
/// vendor secret the service holds for it (0: none), with the end of the previous secret's overlap window.
/// </summary>
internal sealed record ServiceKey(
    string Id,
    string Vendor,
    KeyPolicy Policy,
    Policy Message,
    long PolicyVersion,
    byte[]? BrakeKeySha256,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    long SecretVersion = 0,
    DateTimeOffset? SecretSetAt = null,
    DateTimeOffset? PreviousSecretValidUntil = null)
{
    /// <summary>
    /// Whether a call carrying secret <paramref name="version"/> may go ahead at <paramref name="now"/>: the process's
    /// own secret (0), the current one, or one newer than this copy knows (a replica that has not heard of a rotation
    /// yet); the previous one only while its overlap window is open. Anything older was erased.
    /// </summary>
    public bool AcceptsSecret(long version, DateTimeOffset now) =>
        version == 0 || version >= SecretVersion
        || (version == SecretVersion - 1 && PreviousSecretValidUntil is { } until && until > now);

    /// <summary>Whether this copy is at least as new as <paramref name="other"/> in both its policy and its secret.</summary>
    public bool IsAtLeast(ServiceKey other) => PolicyVersion >= other.PolicyVersion && SecretVersion >= other.SecretVersion;
}
