using System.Globalization;
using Microsoft.Extensions.Options;

namespace Keybrake.Client.Resend;

/// <summary>
/// Checks the Resend scope of every Resend key at start-up: each <c>recipientDomains</c> entry is a domain (or
/// <c>*.domain</c>), and each recipient limit allows at least one recipient.
/// </summary>
internal sealed class ResendPolicyValidator : IValidateOptions<KeybrakeOptions>
{
    public ValidateOptionsResult Validate(string? name, KeybrakeOptions options)
    {
        var errors = new List<string>();
        foreach (var (keyId, key) in options.Keys)
        {
            if (key?.Policy is not { } policy || !string.Equals(key.Vendor, ResendVendorProfile.VendorName, StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            var field = $"Keybrake:Keys:{keyId}:Policy";
            foreach (var (scopeName, values) in policy.Scope)
            {
                if (!string.Equals(scopeName, ResendScope.RecipientDomains, StringComparison.OrdinalIgnoreCase) || values is null)
                {
                    continue;
                }

                var invalid = new List<string>();
                DomainAllowlist.Create(values.Where(v => !string.IsNullOrWhiteSpace(v)), invalid);
                errors.AddRange(invalid.Select(entry =>
                    $"{field}:Scope:{scopeName}: '{entry}' is not a domain; write 'example.com', or '*.example.com' for its subdomains"));
            }

            foreach (var (limitName, value) in policy.Limits)
            {
                if (ResendScope.LimitNames.Contains(limitName, StringComparer.OrdinalIgnoreCase) && value < 1)
                {
                    errors.Add(string.Create(CultureInfo.InvariantCulture, $"{field}:Limits:{limitName} must be at least 1 (use an endpoint rule to forbid sending)"));
                }
            }
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
