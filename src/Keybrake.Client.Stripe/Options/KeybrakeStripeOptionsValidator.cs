using Microsoft.Extensions.Options;

namespace Keybrake.Client.Stripe;

/// <summary>Checks every configured USD rate before the first call needs it.</summary>
internal sealed class KeybrakeStripeOptionsValidator : IValidateOptions<KeybrakeStripeOptions>
{
    public ValidateOptionsResult Validate(string? name, KeybrakeStripeOptions options)
    {
        var errors = new List<string>();
        foreach (var (currency, rate) in options.UsdRates)
        {
            if (!StripeCurrencies.IsCurrencyCode(currency))
            {
                errors.Add($"{KeybrakeStripeOptions.SectionName}:UsdRates:{currency}: '{currency}' is not a lower-case three-letter currency code");
            }
            else if (!UsdRateTable.TryParseRate(rate, out _))
            {
                errors.Add($"{KeybrakeStripeOptions.SectionName}:UsdRates:{currency}: '{rate}' is not a positive decimal with at most nine decimals");
            }
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

/// <summary>Checks that <c>AddStripeClient</c> names exactly one key, and that it exists.</summary>
internal sealed class KeybrakeStripeClientOptionsValidator : IValidateOptions<KeybrakeStripeClientOptions>
{
    private readonly IOptionsMonitor<KeybrakeOptions> _keybrake;

    public KeybrakeStripeClientOptionsValidator(IOptionsMonitor<KeybrakeOptions> keybrake) => _keybrake = keybrake;

    public ValidateOptionsResult Validate(string? name, KeybrakeStripeClientOptions options)
    {
        if (string.IsNullOrEmpty(options.BrakeKey) == string.IsNullOrEmpty(options.KeyId))
        {
            return ValidateOptionsResult.Fail("AddStripeClient needs exactly one of BrakeKey and KeyId.");
        }

        if (options.KeyId is { Length: > 0 } keyId && !_keybrake.CurrentValue.Keys.ContainsKey(keyId))
        {
            return ValidateOptionsResult.Fail($"AddStripeClient names key '{keyId}', which is not configured under Keybrake:Keys.");
        }

        if (options.MaxNetworkRetries is < 0 or > 10)
        {
            return ValidateOptionsResult.Fail("AddStripeClient's MaxNetworkRetries must be between 0 and 10.");
        }

        return ValidateOptionsResult.Success;
    }
}
