using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Keybrake.Client;

/// <summary>One brake key: what the agent's SDK is configured with, the vendor it is for, the real secret and the policy.</summary>
public sealed class KeybrakeKeyOptions
{
    /// <summary>The prefix every brake key starts with.</summary>
    public const string BrakeKeyPrefix = "vault_key_";

    /// <summary>
    /// The <c>vault_key_...</c> value the agent's SDK client is configured with in place of the vendor secret.
    /// At least 16 characters after the prefix.
    /// </summary>
    [Required]
    public string BrakeKey { get; set; } = string.Empty;

    /// <summary>The vendor the key is for, such as <c>stripe</c>; a vendor package must be registered for it.</summary>
    [Required]
    public string Vendor { get; set; } = string.Empty;

    /// <summary>
    /// The real vendor secret the guard puts on the request in place of the brake key. It never reaches a
    /// log, an audit record or an exception message. Required on the embedded ledger; in central mode it may be
    /// left out, and the guard then asks the budget service for the secret it holds for the key on first use
    /// (kept in memory only). When set in central mode, it wins: the service is never asked.
    /// </summary>
    public string VendorSecret { get; set; } = string.Empty;

    /// <summary>
    /// A stand-in for the vendor (a test double, a local mock) that receives this key's secret instead of the
    /// vendor's own hosts: an absolute <c>http</c> or <c>https</c> address with no path, such as
    /// <c>http://127.0.0.1:5080</c>. Empty (the default) for the vendor itself, over <c>https</c> only. When set,
    /// the secret goes to this scheme, host and port and nowhere else, and start-up logs a warning naming it.
    /// </summary>
    public string? VendorEndpoint { get; set; }

    /// <summary>The key's policy: caps, endpoint rules, allowlists and limits.</summary>
    [Required]
    [ValidateObjectMembers]
    public KeybrakePolicyOptions Policy { get; set; } = new();

    /// <summary>Keeps the secret out of anything that prints the options.</summary>
    public override string ToString() => $"{Vendor} key ({BrakeKey.Length} chars, secret hidden)";
}
