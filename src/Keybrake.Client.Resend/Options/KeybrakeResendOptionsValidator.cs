using Microsoft.Extensions.Options;

namespace Keybrake.Client.Resend;

/// <summary>
/// Checks the prices before the first email needs them. That each key price names a configured Resend key is
/// checked with the keys, by <see cref="ResendPolicyValidator"/>.
/// </summary>
internal sealed class KeybrakeResendOptionsValidator : IValidateOptions<KeybrakeResendOptions>
{
    /// <summary>No email costs more than a dollar; a price above it is a typo (a missing decimal point), not a plan.</summary>
    internal static readonly Usd MaxPricePerEmail = Usd.FromDollars(1);

    public ValidateOptionsResult Validate(string? name, KeybrakeResendOptions options)
    {
        var errors = new List<string>();
        CheckPrice(errors, $"{KeybrakeResendOptions.SectionName}:PricePerEmail", options.PricePerEmail);
        foreach (var (keyId, price) in options.KeyPrices)
        {
            CheckPrice(errors, $"{KeybrakeResendOptions.SectionName}:KeyPrices:{keyId}", price);
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
