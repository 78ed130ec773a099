using Microsoft.Extensions.Options;

namespace Keybrake.Client.Central;

/// <summary>Central mode needs a client credential: a missing, unreadable or malformed one fails start-up in one line.</summary>
internal sealed class ClientCredentialValidator : IValidateOptions<KeybrakeBudgetServiceOptions>
{
    public ValidateOptionsResult Validate(string? name, KeybrakeBudgetServiceOptions options) =>
        ClientCredential.Problem(options) is { } problem ? ValidateOptionsResult.Fail(problem) : ValidateOptionsResult.Success;
}
