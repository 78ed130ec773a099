using Keybrake.Client.Central;
using Keybrake.Client.TestUtilities.BudgetService;
using Microsoft.Extensions.DependencyInjection;
using Stripe;

namespace Keybrake.Client.Stripe.Tests;

/// <summary>
/// This test process as one more client of the budget service: the admin (<see cref="IKeybrakeAdmin"/> in central
/// mode) and a guarded Stripe.net client for the same key the agents use.
/// </summary>
internal sealed class CentralStripeHost : IAsyncDisposable
{
    public const string BrakeKey = "vault_key_test_cross_process_host_01";

    private readonly ServiceProvider _services;
    private readonly string _folder;

    private CentralStripeHost(ServiceProvider services, string folder)
    {
        _services = services;
        _folder = folder;
    }

    public IKeybrakeAdmin Admin => _services.GetRequiredService<IKeybrakeAdmin>();

    public StripeClient Stripe => _services.GetRequiredService<StripeClient>();

    /// <summary>Starts the host; <paramref name="caCertificatePath"/> is the private CA an https service's certificate must chain to.</summary>
    /// <param name="service">The budget service.</param>
    /// <param name="stripe">The Stripe stand-in's URL.</param>
    /// <param name="keyId">The key, as the service knows it.</param>
    /// <param name="caCertificatePath">The private CA file, for an https service.</param>
    /// <param name="budgetService">Changes to the budget service options, after the defaults (a list of replicas, say).</param>
    public static CentralStripeHost Start(Uri service, string stripe, string keyId, string? caCertificatePath = null, Action<KeybrakeBudgetServiceOptions>? budgetService = null)
    {
        var folder = Directory.CreateTempSubdirectory("keybrake-cross-process-host-").FullName;
        var services = new ServiceCollection();
        services.AddKeybrake(o =>
            {
                o.AddKey(keyId, key =>
                {
                    key.BrakeKey = BrakeKey;
                    key.Vendor = "stripe";
                    key.VendorSecret = StripeGuardHost.VendorSecret;
                    key.VendorEndpoint = stripe;
                });
            })
            .UseBudgetService(o =>
            {
                o.Address = service;
                o.AdminToken = BudgetServiceHost.AdminToken;
                o.ClientToken = BudgetServiceHost.ClientToken;
                o.CaCertificatePath = caCertificatePath;
                o.OutboxPath = Path.Combine(folder, "outbox.db");
                o.CallTimeout = TimeSpan.FromMilliseconds(int.Parse(AgentProcess.CallTimeoutMilliseconds, System.Globalization.CultureInfo.InvariantCulture));
                budgetService?.Invoke(o);
            })
            .AddStripeClient(o =>
            {
                o.BrakeKey = BrakeKey;
                o.ApiBase = stripe;
            });
        return new CentralStripeHost(services.BuildServiceProvider(), folder);
    }

    /// <summary>A charge through the guard; the Keybrake reason when denied, or <see langword="null"/> when it went through.</summary>
    public async Task<string?> ChargeAsync(long cents)
    {
        try
        {
            await new ChargeService(Stripe).CreateAsync(new ChargeCreateOptions { Amount = cents, Currency = "usd", Source = "tok_visa" });
            return null;
        }
        catch (StripeException denied) when (denied.StripeError?.Code?.StartsWith("keybrake_", StringComparison.Ordinal) == true)
        {
            return denied.StripeError.Code["keybrake_".Length..];
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _services.DisposeAsync();
        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (IOException)
        {
            // a file still held open: the temp folder is cleaned by the system
        }
    }
}
