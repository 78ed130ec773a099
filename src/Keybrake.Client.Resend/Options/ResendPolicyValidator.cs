using System.Globalization;
using Microsoft.Extensions.Options;

namespace Keybrake.Client.Resend;

/// <summary>
/// Checks the Resend scope of every Resend key at start-up: each <c>recipientDomains</c> entry is a domain (or
/// <c>*.domain</c>), each recipient limit allows at least one recipient, and each price in
/// <c>Keybrake:Resend:KeyPrices</c> is for a configured Resend key.
/// </summary>
internal sealed class ResendPolicyValidator : IValidateOptions<KeybrakeOptions>
{
    private readonly IOptions<KeybrakeResendOptions> _resend;

    public ResendPolicyValidator(IOptions<KeybrakeResendOptions> resend) => _resend = resend;

    public ValidateOptionsResult Validate(string? name, KeybrakeOptions options)
    {
        var errors = new List<string>();
        foreach (var keyId in _resend.Value.KeyPrices.Keys)
        {
            var field = $"{KeybrakeResendOptions.SectionName}:KeyPrices:{keyId}";
            if (!options.Keys.TryGetValue(keyId, out var priced))
            {
                errors.Add($"{field} names a key that is not configured under Keybrake:Keys");
            }
            else if (!string.Equals(priced?.Vendor, ResendVendorProfile.VendorName, StringComparison.OrdinalIgnoreCase))
            {
                errors.Add($"{field} names key '{keyId}', which is not a Resend key");
            }
        }

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
