using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Keybrake.Client.Central;

/// <summary>
/// Binds <c>Keybrake:BudgetService</c> when the host has configuration; console apps that build a bare service
/// collection have none, and then only the code passed to <c>UseBudgetService</c> configures.
/// </summary>
internal sealed class BindBudgetServiceConfiguration : IConfigureOptions<KeybrakeBudgetServiceOptions>
{
    public const string SectionPath = KeybrakeOptions.SectionName + ":BudgetService";

    private readonly IConfiguration? _configuration;

    public BindBudgetServiceConfiguration(IServiceProvider services) =>
        _configuration = services.GetService(typeof(IConfiguration)) as IConfiguration;

    public void Configure(KeybrakeBudgetServiceOptions options) => _configuration?.GetSection(SectionPath).Bind(options);
}
