using Microsoft.Extensions.Options;

namespace Keybrake.Client;

/// <summary>Source-generated checks of the data annotations on <see cref="KeybrakeOptions"/>.</summary>
[OptionsValidator]
internal sealed partial class KeybrakeOptionsValidator : IValidateOptions<KeybrakeOptions>;

/// <summary>Source-generated checks of the data annotations on one key's options.</summary>
[OptionsValidator]
internal sealed partial class KeybrakeKeyOptionsValidator : IValidateOptions<KeybrakeKeyOptions>;
