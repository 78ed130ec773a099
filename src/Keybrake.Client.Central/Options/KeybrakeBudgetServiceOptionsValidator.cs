using Microsoft.Extensions.Options;

namespace Keybrake.Client.Central;

/// <summary>
/// Checks the data annotations on <see cref="KeybrakeBudgetServiceOptions"/>, and that central mode has somewhere to go;
/// each message names the configuration path.
/// </summary>
internal sealed class KeybrakeBudgetServiceOptionsValidator : IValidateOptions<KeybrakeBudgetServiceOptions>
{
    private readonly KeybrakeBudgetServiceOptionsAnnotations _annotations = new();

    public ValidateOptionsResult Validate(string? name, KeybrakeBudgetServiceOptions options)
    {
        var errors = new List<string>();
        if (!options.IsCentral)
        {
            errors.Add($"{BindBudgetServiceConfiguration.SectionPath}:Address: UseBudgetService() needs the service's address: set Address (or Addresses), such as https://budget.internal:7411");
        }

        var result = _annotations.Validate(name, options);
        if (result.Failed)
        {
            var displayPrefix = string.IsNullOrEmpty(name) ? nameof(KeybrakeBudgetServiceOptions) : name;
            errors.AddRange(result.Failures.Select(failure => AnnotationMessages.Reshape(failure, displayPrefix, BindBudgetServiceConfiguration.SectionPath)));
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

/// <summary>Source-generated checks of the data annotations on <see cref="KeybrakeBudgetServiceOptions"/>.</summary>
[OptionsValidator]
internal sealed partial class KeybrakeBudgetServiceOptionsAnnotations : IValidateOptions<KeybrakeBudgetServiceOptions>;
