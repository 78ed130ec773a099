using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Keybrake.Client;

/// <summary>
/// Binds the <c>Keybrake</c> configuration section when the host has configuration. Console apps that build
/// a bare service collection have none, and then only the code passed to <c>AddKeybrake</c> configures.
/// </summary>
internal sealed class BindKeybrakeConfiguration : IConfigureOptions<KeybrakeOptions>
{
    private readonly IConfiguration? _configuration;

    public BindKeybrakeConfiguration(IServiceProvider services) =>
        _configuration = services.GetService(typeof(IConfiguration)) as IConfiguration;

    public void Configure(KeybrakeOptions options)
    {
        if (_configuration is null)
        {
            return;
        }

        var section = _configuration.GetSection(KeybrakeOptions.SectionName);
        section.Bind(options);

        // The binder silently drops a dictionary entry it cannot bind (say, a cap written "12.3456789"), which
        // would make a misconfigured key vanish. Bind each missing key alone to learn why, and report it.
        foreach (var keySection in section.GetSection(nameof(KeybrakeOptions.Keys)).GetChildren())
        {
            if (options.Keys.ContainsKey(keySection.Key))
            {
                continue;
            }

            try
            {
                var key = new KeybrakeKeyOptions();
                keySection.Bind(key);
                options.Keys[keySection.Key] = key;
            }
            catch (InvalidOperationException exception)
            {
                options.ConfigurationErrors.Add(
                    $"{keySection.Path}: {exception.Message}{(exception.InnerException is { } inner ? " " + inner.Message : string.Empty)}");
            }
        }
    }
}

/// <summary>Reloads the options when the <c>Keybrake</c> section changes.</summary>
internal sealed class KeybrakeConfigurationChangeTokenSource : IOptionsChangeTokenSource<KeybrakeOptions>
{
    private readonly IConfiguration? _configuration;

    public KeybrakeConfigurationChangeTokenSource(IServiceProvider services) =>
        _configuration = services.GetService(typeof(IConfiguration)) as IConfiguration;

    public string? Name => Microsoft.Extensions.Options.Options.DefaultName;

    public Microsoft.Extensions.Primitives.IChangeToken GetChangeToken() =>
        _configuration?.GetSection(KeybrakeOptions.SectionName).GetReloadToken()
        ?? NullChangeToken.Instance;

    private sealed class NullChangeToken : Microsoft.Extensions.Primitives.IChangeToken
    {
        public static readonly NullChangeToken Instance = new();

        public bool HasChanged => false;

        public bool ActiveChangeCallbacks => false;

        public IDisposable RegisterChangeCallback(Action<object?> callback, object? state) => EmptyDisposable.Instance;
    }

    private sealed class EmptyDisposable : IDisposable
    {
        public static readonly EmptyDisposable Instance = new();

        public void Dispose()
        {
        }
    }
}
