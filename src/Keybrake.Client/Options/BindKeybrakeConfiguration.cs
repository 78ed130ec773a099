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
    private readonly bool _externalLedger;

    public BindKeybrakeConfiguration(IServiceProvider services)
    {
        _configuration = services.GetService(typeof(IConfiguration)) as IConfiguration;
        _externalLedger = services.GetService(typeof(ExternalBudgetLedger)) is not null;
    }

    public void Configure(KeybrakeOptions options)
    {
        if (_configuration is null)
        {
            return;
        }

        var section = _configuration.GetSection(KeybrakeOptions.SectionName);
        section.Bind(options);
        ReportBudgetServiceWithoutCentralMode(section, options);

        // The lenient binder silently drops a dictionary entry it cannot bind (a key whose cap reads "12.3456789"
        // would vanish, a limit that reads "seven" would stop being enforced) and ignores settings it does not
        // know. Bind each key again, strictly, to learn what it could not read, and report that at validation.
        foreach (var keySection in section.GetSection(nameof(KeybrakeOptions.Keys)).GetChildren())
        {
            KeybrakeKeyOptions alone;
            try
            {
                // Strict, so that a misspelt setting (RunCaps, DailyCpa) is reported instead of silently ignored:
                // a policy field nobody reads is a limit nobody enforces.
                alone = new KeybrakeKeyOptions();
                keySection.Bind(alone, binder => binder.ErrorOnUnknownConfiguration = true);
            }
            catch (InvalidOperationException exception)
            {
                options.ConfigurationErrors.Add($"{keySection.Path}: {ConfigurationErrors.Describe(exception)}");
                continue;
            }

            options.Keys.TryAdd(keySection.Key, alone);
        }
    }

    /// <summary>
    /// Central mode lives in Keybrake.Client.Central. A budget service address with nothing to read it would leave
    /// the guard on the embedded ledger, each process with caps of its own: the operator asked for shared caps, so
    /// start-up fails instead, saying what to add.
    /// </summary>
    private void ReportBudgetServiceWithoutCentralMode(IConfigurationSection section, KeybrakeOptions options)
    {
        if (_externalLedger)
        {
            return;
        }

        var service = section.GetSection("BudgetService");
        var setting = !string.IsNullOrWhiteSpace(service["Address"]) ? "Address"
            : service.GetSection("Addresses").GetChildren().Any() ? "Addresses"
            : null;
        if (setting is not null)
        {
            options.ConfigurationErrors.Add(
                $"{service.Path}:{setting} is set, but central mode is not registered: add the Keybrake.Client.Central package and call UseBudgetService() after AddKeybrake(); without it the guard would run embedded, with caps per process");
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
