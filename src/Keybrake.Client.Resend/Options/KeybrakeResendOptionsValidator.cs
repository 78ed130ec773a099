using Microsoft.Extensions.Options;

namespace Keybrake.Client.Resend;

/// <summary>Checks the prices before the first email needs them: each within range, each key price for a configured Resend key.</summary>
internal sealed class KeybrakeResendOptionsValidator : IValidateOptions<KeybrakeResendOptions>
{
    /// <summary>No email costs more than a dollar; a price above it is a typo (a missing decimal point), not a plan.</summary>
    internal static readonly Usd MaxPricePerEmail = Usd.FromDollars(1);

    private readonly IOptionsMonitor<KeybrakeOptions> _keybrake;

    public KeybrakeResendOptionsValidator(IOptionsMonitor<KeybrakeOptions> keybrake) => _keybrake = keybrake;

    public ValidateOptionsResult Validate(string? name, KeybrakeResendOptions options)
    {
        var errors = new List<string>();
        CheckPrice(errors, $"{KeybrakeResendOptions.SectionName}:PricePerEmail", options.PricePerEmail);
        var keys = _keybrake.CurrentValue.Keys;
        foreach (var (keyId, price) in options.KeyPrices)
        {
            var field = $"{KeybrakeResendOptions.SectionName}:KeyPrices:{keyId}";
            CheckPrice(errors, field, price);
            if (!keys.TryGetValue(keyId, out var key))
            {
                errors.Add($"{field} names a key that is not configured under Keybrake:Keys");
            }
            else if (!string.Equals(key?.Vendor, ResendVendorProfile.VendorName, StringComparison.OrdinalIgnoreCase))
            {
                errors.Add($"{field} names key '{keyId}', which is not a Resend key");
            }
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void CheckPrice(List<string> errors, string field, Usd price)
    {
        if (price < Usd.Zero || price > MaxPricePerEmail)
        {
            errors.Add($"{field} must be between $0 and {MaxPricePerEmail} per email");
        }
    }
}
