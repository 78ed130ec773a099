using Microsoft.Extensions.Options;

namespace Keybrake.Client.Central;

/// <summary>Central mode needs a client credential: a missing, unreadable or malformed one fails start-up in one line.</summary>
internal sealed class ClientCredentialValidator : IValidateOptions<KeybrakeOptions>
{
    public ValidateOptionsResult Validate(string? name, KeybrakeOptions options) =>
        ClientCredential.Problem(options.BudgetService) is { } problem ? ValidateOptionsResult.Fail(problem) : ValidateOptionsResult.Success;
}
