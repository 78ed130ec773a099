using Microsoft.Extensions.Options;

namespace Keybrake.Client;

/// <summary>
/// Checks every key: its annotations, a well-formed and unique brake key, a registered vendor, allowlist
/// and limit names the vendor knows, and a policy that compiles. Each message names the field.
/// </summary>
internal sealed class KeybrakeKeysValidator : IValidateOptions<KeybrakeOptions>
{
    private const int MinBrakeKeySecretLength = 16;
    private const int MaxKeyIdLength = 64;

    private readonly KeybrakeKeyOptionsValidator _keyValidator = new();
    private readonly Dictionary<string, VendorProfile> _vendors;

    // With an external ledger (central mode) the budget service enforces the caps, and may hold the vendor secret:
    // a key here need set neither.
    private readonly bool _capsAreCentral;

    public KeybrakeKeysValidator(IEnumerable<VendorProfile> vendors, IEnumerable<ExternalBudgetLedger> externalLedgers)
    {
        _capsAreCentral = externalLedgers.Any();
        _vendors = vendors.GroupBy(v => v.Vendor).ToDictionary(g => g.Key, g => g.First(), StringComparer.OrdinalIgnoreCase);
    }

    public ValidateOptionsResult Validate(string? name, KeybrakeOptions options)
    {
        var errors = new List<string>(options.ConfigurationErrors);
        var brakeKeys = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (keyId, key) in options.Keys)
        {
            var field = $"Keybrake:Keys:{keyId}";
            if (!IsValidKeyId(keyId))
            {
                errors.Add($"{field}: a key id has 1 to {MaxKeyIdLength} letters, digits, '.', '_' or '-'");
            }

            if (key is null)
            {
                errors.Add($"{field} is empty");
                continue;
            }

            var annotations = _keyValidator.Validate(field, key);
            if (annotations.Failed)
            {
                errors.AddRange(annotations.Failures.Select(failure => AnnotationMessages.Reshape(failure, field, field)));
            }

            // In central mode the budget service may hold the secret instead (fetched on first use); embedded, nobody does.
            // The message is the one the [Required] annotation gave when the field was required in every mode.
            if (string.IsNullOrEmpty(key.VendorSecret) && !_capsAreCentral)
            {
                errors.Add($"{field}:VendorSecret: a value is required");
            }

            if (!string.IsNullOrEmpty(key.BrakeKey))
            {
                if (!key.BrakeKey.StartsWith(KeybrakeKeyOptions.BrakeKeyPrefix, StringComparison.Ordinal)
                    || key.BrakeKey.Length < KeybrakeKeyOptions.BrakeKeyPrefix.Length + MinBrakeKeySecretLength)
                {
                    errors.Add($"{field}:BrakeKey must start with '{KeybrakeKeyOptions.BrakeKeyPrefix}' followed by at least {MinBrakeKeySecretLength} characters");
                }
                else if (!brakeKeys.TryAdd(key.BrakeKey, keyId))
                {
                    errors.Add($"{field}:BrakeKey is the same as key '{brakeKeys[key.BrakeKey]}''s; every key needs its own");
                }
            }

            if (!string.IsNullOrEmpty(key.VendorSecret) && key.VendorSecret.StartsWith(KeybrakeKeyOptions.BrakeKeyPrefix, StringComparison.Ordinal))
            {
                errors.Add($"{field}:VendorSecret is a brake key; it must be the vendor's real secret");
            }

            if (!string.IsNullOrEmpty(key.VendorEndpoint) && !VendorEndpoints.TryParse(key.VendorEndpoint, out _, out var endpointProblem))
            {
                errors.Add($"{field}:VendorEndpoint {endpointProblem}");
            }

            if (!string.IsNullOrEmpty(key.Vendor))
            {
                ValidateVendor(errors, field, key);
            }

            if (key.Policy is not null)
            {
                KeyPolicy.TryCompile(keyId, key.Policy, errors, _capsAreCentral);

                // Embedded, nothing would ever count: LLM spend (LiteLLM's spend logs) reaches only the budget service.
                if (!_capsAreCentral && key.Policy.RunCapIncludes.Any(include => string.Equals(include, LeaseSettings.LlmVendor, StringComparison.OrdinalIgnoreCase)))
                {
                    errors.Add($"{field}:Policy:RunCapIncludes 'llm' needs central mode (UseBudgetService()): LLM spend reaches only the budget service, so an embedded run cap cannot count it");
                }
            }
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private void ValidateVendor(List<string> errors, string field, KeybrakeKeyOptions key)
    {
        if (!_vendors.TryGetValue(key.Vendor, out var vendor))
        {
            var known = _vendors.Count == 0 ? "none is registered" : "registered: " + string.Join(", ", _vendors.Keys.Order());
            errors.Add($"{field}:Vendor '{key.Vendor}' has no vendor package registered ({known}); call AddStripe(), AddTwilio() or AddResend() on the Keybrake builder");
            return;
        }

        foreach (var scopeName in key.Policy?.Scope.Keys ?? [])
        {
            if (!vendor.ScopeNames.Contains(scopeName, StringComparer.OrdinalIgnoreCase))
            {
                errors.Add($"{field}:Policy:Scope:{scopeName} is not an allowlist {vendor.Vendor} knows (it knows: {string.Join(", ", vendor.ScopeNames)})");
            }
        }

        foreach (var limitName in key.Policy?.Limits.Keys ?? [])
        {
            if (!vendor.LimitNames.Contains(limitName, StringComparer.OrdinalIgnoreCase))
            {
                var known = vendor.LimitNames.Count == 0 ? "none" : string.Join(", ", vendor.LimitNames);
                errors.Add($"{field}:Policy:Limits:{limitName} is not a limit {vendor.Vendor} knows (it knows: {known})");
            }
        }
    }

    private static bool IsValidKeyId(string keyId) =>
        keyId.Length is > 0 and <= MaxKeyIdLength
        && keyId.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-');
}
