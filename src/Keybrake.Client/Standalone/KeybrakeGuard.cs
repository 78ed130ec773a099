using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Keybrake.Client;

/// <summary>
/// Keybrake without a host: for console apps and scripts that build their SDK clients by hand. It holds the
/// guard's services; dispose it when done so the audit trail is flushed.
/// </summary>
/// <example>
/// <code>
/// await using var keybrake = KeybrakeGuard.Create(k => k
///     .Configure(o => o.AddKey("refund-agent", key => { ... }))
///     .AddStripe());
/// var stripe = new StripeClient(new StripeClientOptions
/// {
///     ApiKey = "vault_key_...",
///     HttpClient = new SystemNetHttpClient(keybrake.CreateHttpClient("stripe")),
/// });
/// </code>
/// </example>
public sealed class KeybrakeGuard : IAsyncDisposable, IDisposable
{
    private readonly ServiceProvider _services;

    private KeybrakeGuard(ServiceProvider services) => _services = services;

    /// <summary>Operator actions (revoke, restore, spend) on this guard's ledger.</summary>
    public IKeybrakeAdmin Admin => _services.GetRequiredService<IKeybrakeAdmin>();

    /// <summary>The guard's services, for vendor packages' helpers.</summary>
    public IServiceProvider Services => _services;

    /// <summary>Builds a guard. The options are validated here; an invalid policy throws <see cref="OptionsValidationException"/>.</summary>
    /// <param name="configure">Configures keys and registers vendor packages.</param>
    /// <param name="timeProvider">The clock; the system clock when empty.</param>
    public static KeybrakeGuard Create(Action<IKeybrakeBuilder> configure, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(configure);
        var services = new ServiceCollection();
        if (timeProvider is not null)
        {
            services.AddSingleton(timeProvider);
        }

        configure(services.AddKeybrake());
        var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });
        try
        {
            _ = provider.GetRequiredService<IOptions<KeybrakeOptions>>().Value;
        }
        catch
        {
            provider.Dispose();
            throw;
        }

        return new KeybrakeGuard(provider);
    }

    /// <summary>
    /// Creates an <see cref="HttpClient"/> whose requests pass the guard for <paramref name="vendor"/>. Give it
    /// to the vendor SDK in place of its default client.
    /// </summary>
    /// <param name="vendor">The vendor, such as <c>stripe</c>.</param>
    /// <param name="innerHandler">What sends the allowed requests; a pooled <see cref="SocketsHttpHandler"/> when empty.</param>
    public HttpClient CreateHttpClient(string vendor, HttpMessageHandler? innerHandler = null)
    {
        var guard = new KeybrakeGuardHandler(_services.GetRequiredService<GuardPipeline>(), VendorProfiles.Find(_services, vendor))
        {
            InnerHandler = innerHandler ?? new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) },
        };
        return new HttpClient(guard, disposeHandler: true);
    }

    /// <summary>Disposes the guard's services, flushing the audit trail.</summary>
    public ValueTask DisposeAsync() => _services.DisposeAsync();

    /// <summary>Prefer <see cref="DisposeAsync"/>: this cannot wait for the audit file to be flushed.</summary>
    public void Dispose() => _ = _services.DisposeAsync().AsTask();
}
