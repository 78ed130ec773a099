using System.Collections.Frozen;
using Keybrake.BudgetService.Budget;
using Keybrake.BudgetService.Hosting;
using Microsoft.Extensions.Options;

namespace Keybrake.BudgetService.Keys;

/// <summary>The keys in the service's configuration, checked at start-up; <see cref="KeyRegistry"/> imports them.</summary>
internal static class ServiceKeys
{
    /// <summary>Compiles every configured key's policy, adding a message naming the field for each problem.</summary>
    public static FrozenDictionary<string, KeyPolicy> Compile(BudgetServiceOptions options, List<string>? errors = null)
    {
        var keys = new Dictionary<string, KeyPolicy>(StringComparer.Ordinal);
        var problems = errors ?? [];
        foreach (var (id, key) in options.Keys)
        {
            var before = problems.Count;
            var policy = KeyPolicy.TryCompile(id, key.Policy, problems);
            for (var i = before; i < problems.Count; i++)
            {
                problems[i] = problems[i].Replace("Keybrake:Keys:", $"{BudgetServiceOptions.SectionName}:Keys:", StringComparison.Ordinal);
            }

            if (string.IsNullOrWhiteSpace(key.Vendor))
            {
                problems.Add($"{BudgetServiceOptions.SectionName}:Keys:{id}:Vendor is required");
            }

            if (!KeyIds.IsValid(id))
            {
                problems.Add($"{BudgetServiceOptions.SectionName}:Keys: key id '{RequestChecks.Shown(id)}' {KeyIds.Rule}");
            }

            if (policy is not null && KeyRegistry.CapsFitTheBooks(policy, $"{BudgetServiceOptions.SectionName}:Keys:{id}:Policy:DailyCap", $"{BudgetServiceOptions.SectionName}:Keys:{id}:Policy:RunCap", problems))
            {
                keys[id] = policy;
            }
        }

        if (errors is null && problems.Count > 0)
        {
            throw new OptionsValidationException(BudgetServiceOptions.SectionName, typeof(BudgetServiceOptions), problems);
        }

        return keys.ToFrozenDictionary(StringComparer.Ordinal);
    }
}

/// <summary>Fails start-up with every bad key policy named.</summary>
internal sealed class BudgetServiceOptionsValidator : IValidateOptions<BudgetServiceOptions>
{
    private readonly IConfiguration _configuration;

    public BudgetServiceOptionsValidator(IConfiguration configuration) => _configuration = configuration;

    public ValidateOptionsResult Validate(string? name, BudgetServiceOptions options)
    {
        var errors = new List<string>();
        AddUnboundKeys(options, errors);
        ServiceKeys.Compile(options, errors);
        if (string.IsNullOrWhiteSpace(options.StoragePath))
        {
            errors.Add($"{BudgetServiceOptions.SectionName}:StoragePath is required");
        }

        if (options.AdminToken is { Length: > 0 } token && AdminToken.Problem(token) is { } problem)
        {
            errors.Add($"{BudgetServiceOptions.SectionName}:AdminToken {problem}");
        }

        errors.AddRange(Vault.SecretVault.Problems(options.Vault));

        foreach (var (id, client) in options.Clients)
        {
            var path = $"{BudgetServiceOptions.SectionName}:Clients:{id}";
            if (Clients.ClientIds.Problem(id) is { } idProblem)
            {
                errors.Add($"{path}: {idProblem}");
            }

            if (client.TokenSha256.Length != 64 || !client.TokenSha256.All(char.IsAsciiHexDigit))
            {
                errors.Add($"{path}:TokenSha256 must be the SHA-256 of the token as 64 hexadecimal digits (never the token itself)");
            }

            if (Integrations.KnownIntegrations.Problem([.. client.Integrations]) is { } integrationProblem)
            {
                errors.Add($"{path}:Integrations: {integrationProblem}");
            }

            if (Clients.ClientIds.ScopeProblem([.. client.Keys], client.Integrations.Count > 0) is { } scopeProblem)
            {
                errors.Add($"{path}:Keys: {scopeProblem}");
            }
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    /// <summary>
    /// The configuration binder drops a dictionary entry it cannot convert (a DailyCap of "abc") without a word,
    /// and ignores a setting it does not know (RunCaps), so a mistyped key would vanish, or lose a cap, instead
    /// of failing start-up. Binding each key again, strictly, brings the binder's errors back.
    /// </summary>
    private void AddUnboundKeys(BudgetServiceOptions options, List<string> errors)
    {
        foreach (var key in _configuration.GetSection($"{BudgetServiceOptions.SectionName}:Keys").GetChildren())
        {
            try
            {
                key.Bind(new ServiceKeyOptions(), binder => binder.ErrorOnUnknownConfiguration = true);
            }
            catch (InvalidOperationException exception)
            {
                errors.Add($"{key.Path}: {ConfigurationErrors.Describe(exception)}");
            }
        }
    }
}
