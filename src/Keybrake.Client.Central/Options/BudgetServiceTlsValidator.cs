using Microsoft.Extensions.Options;

namespace Keybrake.Client.Central;

/// <summary>Checks at start-up that a configured private CA file holds a certificate, rather than failing the first call.</summary>
internal sealed class BudgetServiceTlsValidator : IValidateOptions<KeybrakeBudgetServiceOptions>
{
    public ValidateOptionsResult Validate(string? name, KeybrakeBudgetServiceOptions options)
    {
        if (options.CaCertificatePath is not { Length: > 0 } path)
        {
            return ValidateOptionsResult.Success;
        }

        try
        {
            foreach (var certificate in PrivateCa.Load(path))
            {
                certificate.Dispose();
            }

            return ValidateOptionsResult.Success;
        }
        catch (InvalidDataException exception)
        {
            return ValidateOptionsResult.Fail($"Keybrake:BudgetService:CaCertificatePath: {exception.Message}");
        }
    }
}
