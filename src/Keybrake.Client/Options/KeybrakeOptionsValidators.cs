using Microsoft.Extensions.Options;

namespace Keybrake.Client;

/// <summary>Checks the data annotations on <see cref="KeybrakeOptions"/>; each message names the configuration path.</summary>
internal sealed class KeybrakeOptionsValidator : IValidateOptions<KeybrakeOptions>
{
    private readonly KeybrakeOptionsAnnotations _annotations = new();

    public ValidateOptionsResult Validate(string? name, KeybrakeOptions options)
    {
        var result = _annotations.Validate(name, options);
        if (!result.Failed)
        {
            return result;
        }

        var displayPrefix = string.IsNullOrEmpty(name) ? nameof(KeybrakeOptions) : name;
        return ValidateOptionsResult.Fail(result.Failures.Select(failure => AnnotationMessages.Reshape(failure, displayPrefix, KeybrakeOptions.SectionName)));
    }
}

/// <summary>Source-generated checks of the data annotations on <see cref="KeybrakeOptions"/>.</summary>
[OptionsValidator]
internal sealed partial class KeybrakeOptionsAnnotations : IValidateOptions<KeybrakeOptions>;

/// <summary>Source-generated checks of the data annotations on one key's options.</summary>
[OptionsValidator]
internal sealed partial class KeybrakeKeyOptionsValidator : IValidateOptions<KeybrakeKeyOptions>;
