using Microsoft.Extensions.Options;

namespace Keybrake.Client.Twilio;

/// <summary>Checks every configured rate before the first message needs it.</summary>
internal sealed class KeybrakeTwilioOptionsValidator : IValidateOptions<KeybrakeTwilioOptions>
{
    public ValidateOptionsResult Validate(string? name, KeybrakeTwilioOptions options)
    {
        var errors = new List<string>();
        var section = KeybrakeTwilioOptions.SectionName;
        CheckRates(errors, $"{section}:SegmentRates", options.SegmentRates);
        CheckRates(errors, $"{section}:MmsRates", options.MmsRates);
        foreach (var (keyId, key) in options.Keys)
        {
            if (key is null)
            {
                errors.Add($"{section}:Keys:{keyId} is empty");
                continue;
            }

            CheckRates(errors, $"{section}:Keys:{keyId}:SegmentRates", key.SegmentRates);
            if (key.DefaultSegmentRate is not null && !SegmentRateTable.TryParseRate(key.DefaultSegmentRate, out _))
            {
                errors.Add($"{section}:Keys:{keyId}:DefaultSegmentRate: '{key.DefaultSegmentRate}' is not a positive USD amount with at most six decimals");
            }
        }

        var reconciliation = options.PriceReconciliation;
        if (reconciliation.Delay < TimeSpan.FromSeconds(1) || reconciliation.Delay > TimeSpan.FromDays(1))
        {
            errors.Add($"{section}:PriceReconciliation:Delay must be between one second and one day");
        }

        if (reconciliation.MaxAttempts is < 1 or > 100)
        {
            errors.Add($"{section}:PriceReconciliation:MaxAttempts must be between 1 and 100");
        }

        var tick = TwilioPriceReconciler.TickOf(reconciliation);
        if (reconciliation.ElectionTtl < 3 * tick || reconciliation.ElectionTtl > TimeSpan.FromDays(1))
        {
            errors.Add($"{section}:PriceReconciliation:ElectionTtl must be between three check intervals ({3 * tick}, a quarter of Delay each, one to thirty seconds) and one day");
        }

        var pricing = options.PricingApi ?? new TwilioPricingApiOptions();
        if (pricing.CacheDuration < TimeSpan.FromMinutes(1) || pricing.CacheDuration > TimeSpan.FromDays(30))
        {
            errors.Add($"{section}:PricingApi:CacheDuration must be between one minute and thirty days");
        }

        if (pricing.Timeout < TimeSpan.FromMilliseconds(100) || pricing.Timeout > TimeSpan.FromSeconds(30))
        {
            errors.Add($"{section}:PricingApi:Timeout must be between 100 milliseconds and 30 seconds");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void CheckRates(List<string> errors, string field, IDictionary<string, string> rates)
    {
        foreach (var (country, rate) in rates)
        {
            if (!SegmentRateTable.IsCountryCode(country))
            {
                errors.Add($"{field}:{country}: '{country}' is not an upper-case two-letter ISO country code");
            }
            else if (!SegmentRateTable.TryParseRate(rate, out _))
            {
                errors.Add($"{field}:{country}: '{rate}' is not a positive USD amount with at most six decimals");
            }
        }
    }
}

/// <summary>Checks the Twilio allowlists on every Twilio key: destinations are E.164 prefixes, maxSegments is at least one.</summary>
internal sealed class TwilioKeyPolicyValidator : IValidateOptions<KeybrakeOptions>
{
    public ValidateOptionsResult Validate(string? name, KeybrakeOptions options)
    {
        var errors = new List<string>();
        foreach (var (keyId, key) in options.Keys)
        {
            if (key?.Policy is not { } policy || !string.Equals(key.Vendor, TwilioVendorProfile.VendorName, StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            if (policy.Scope.TryGetValue(TwilioScope.Destinations, out var destinations))
            {
                foreach (var prefix in destinations ?? [])
                {
                    if (!string.IsNullOrWhiteSpace(prefix) && !E164.IsE164(prefix))
                    {
                        errors.Add($"Keybrake:Keys:{keyId}:Policy:Scope:{TwilioScope.Destinations}: '{prefix}' is not an E.164 prefix such as '+1415' or '+44'");
                    }
                }
            }

            if (policy.Limits.TryGetValue(TwilioScope.MaxSegments, out var maxSegments) && maxSegments < 1)
            {
                errors.Add($"Keybrake:Keys:{keyId}:Policy:Limits:{TwilioScope.MaxSegments} must be at least 1");
            }
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

/// <summary>Checks that <c>AddTwilioClient</c> names a user and exactly one key, and that the key exists.</summary>
internal sealed class KeybrakeTwilioClientOptionsValidator : IValidateOptions<KeybrakeTwilioClientOptions>
{
    private readonly IOptionsMonitor<KeybrakeOptions> _keybrake;

    public KeybrakeTwilioClientOptionsValidator(IOptionsMonitor<KeybrakeOptions> keybrake) => _keybrake = keybrake;

    public ValidateOptionsResult Validate(string? name, KeybrakeTwilioClientOptions options)
    {
        if (string.IsNullOrWhiteSpace(options.Username))
        {
            return ValidateOptionsResult.Fail("AddTwilioClient needs Username: the Account SID (AC...) or an API key SID (SK...).");
        }

        if (options.Username.StartsWith(KeybrakeKeyOptions.BrakeKeyPrefix, StringComparison.Ordinal))
        {
            return ValidateOptionsResult.Fail("AddTwilioClient's Username is a brake key; the brake key goes in the password's place (BrakeKey).");
        }

        if (string.IsNullOrEmpty(options.BrakeKey) == string.IsNullOrEmpty(options.KeyId))
        {
            return ValidateOptionsResult.Fail("AddTwilioClient needs exactly one of BrakeKey and KeyId.");
        }

        if (options.KeyId is { Length: > 0 } keyId && !_keybrake.CurrentValue.Keys.ContainsKey(keyId))
        {
            return ValidateOptionsResult.Fail($"AddTwilioClient names key '{keyId}', which is not configured under Keybrake:Keys.");
        }

        return ValidateOptionsResult.Success;
    }
}
