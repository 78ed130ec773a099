namespace Keybrake.Policies;

/// <summary>
/// A vendor that keys may be for, with the names of the allowlists (a policy's <c>scope</c>) and numeric limits
/// (its <c>limits</c>) that the vendor's guard understands. The one table the budget service checks policies
/// against and the CLI takes its vendor names and option values from; each entry must match the vendor
/// package's profile (a test checks).
/// </summary>
/// <param name="Name">The vendor's name in keys and policies, such as <c>stripe</c>.</param>
/// <param name="ScopeNames">The allowlists a policy may set for this vendor.</param>
/// <param name="LimitNames">The numeric limits a policy may set for this vendor.</param>
public sealed record KnownVendor(string Name, IReadOnlyList<string> ScopeNames, IReadOnlyList<string> LimitNames)
{
    /// <summary>Every vendor, in name order.</summary>
    public static IReadOnlyList<KnownVendor> All { get; } =
    [
        new("resend", ["recipientDomains"], ["maxRecipientsPerEmail", "maxRecipientsPerRequest"]),
        new("stripe", ["customers", "accounts"], []),
        new("twilio", ["destinations", "senders"], ["maxSegments"]),
    ];

    /// <summary>The vendor of that name (exact, lower case), or <see langword="null"/>.</summary>
    public static KnownVendor? Find(string name)
    {
        foreach (var vendor in All)
        {
            if (string.Equals(vendor.Name, name, StringComparison.Ordinal))
            {
                return vendor;
            }
        }

        return null;
    }
}
