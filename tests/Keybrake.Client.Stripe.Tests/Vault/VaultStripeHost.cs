using Keybrake.Client.Central;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Client.TestUtilities.Guard;
using Keybrake.Client.TestUtilities.Logging;
using Keybrake.Client.TestUtilities.Stripe;
using Microsoft.Extensions.DependencyInjection;
using Stripe;

namespace Keybrake.Client.Stripe.Tests.Vault;

/// <summary>
/// The real Stripe.net client guarded in central mode, for a key whose vendor secret the budget service holds: no
/// <c>VendorSecret</c> in the process's configuration unless the test gives one. The stand-in receives the secret in
/// place of api.stripe.com; every log line and audit record is captured, and the outbox is a file in a folder of its own.
/// </summary>
internal sealed class VaultStripeHost : IAsyncDisposable
{
    public const string KeyId = "refund-agent";
    public const string BrakeKey = "vault_key_test_vault_agent_000000000001";

    private readonly GuardTestHost _host;

    private VaultStripeHost(GuardTestHost host, string folder)
    {
        _host = host;
        Folder = folder;
    }

    public ServiceProvider Services => _host.Services;

    public CapturingLoggerProvider Logs => _host.Logs;

    public RecordingAuditSink Audit => _host.Audit;

    public StripeClient Stripe => Services.GetRequiredService<StripeClient>();

    public GrpcBudgetLedger Ledger => Services.GetRequiredService<GrpcBudgetLedger>();

    /// <summary>The folder holding the audit outbox (and nothing else).</summary>
    public string Folder { get; }

    /// <param name="service">The budget service's address.</param>
    /// <param name="stub">The Stripe stand-in.</param>
    /// <param name="localSecret">A VendorSecret in the process's own configuration; none unless given.</param>
    /// <param name="budgetService">Changes to the budget service options.</param>
    public static VaultStripeHost Start(Uri service, StripeStub stub, string? localSecret = null, Action<KeybrakeBudgetServiceOptions>? budgetService = null)
    {
        var folder = Directory.CreateTempSubdirectory("keybrake-vault-").FullName;
        var host = GuardTestHost.Start(
            [new GuardTestKey(KeyId, BrakeKey, "stripe", localSecret ?? string.Empty) { VendorEndpoint = stub.Url, LoopBreakerOff = true }],
            options: null,
            keybrake => keybrake
                .UseBudgetService(o =>
                {
                    o.Address = service;
                    o.ClientToken = BudgetServiceHost.ClientToken;
                    o.OutboxPath = Path.Combine(folder, "outbox.db");

                    // A busy test machine must not look like an outage.
                    o.CallTimeout = TimeSpan.FromSeconds(5);
                    budgetService?.Invoke(o);
                })
                .AddStripe()
                .AddStripeClient(o =>
                {
                    o.BrakeKey = BrakeKey;
                    o.ApiBase = stub.Url;
                }),
            time: null,
            folder);
        return new VaultStripeHost(host, folder);
    }

    /// <summary>A charge through the guard; the Keybrake reason and message when denied, or <see langword="null"/> when it went through.</summary>
    public async Task<Denied?> ChargeAsync(long cents, string? idempotencyKey = null)
    {
        try
        {
            await new ChargeService(Stripe).CreateAsync(
                new ChargeCreateOptions { Amount = cents, Currency = "usd", Source = "tok_visa" },
                new RequestOptions { IdempotencyKey = idempotencyKey });
            return null;
        }
        catch (StripeException denied) when (denied.StripeError?.Code?.StartsWith("keybrake_", StringComparison.Ordinal) == true)
        {
            return new Denied(denied.StripeError.Code["keybrake_".Length..], denied.Message + " " + denied.StripeError.Message + " " + denied);
        }
    }

    /// <summary>A read through the guard (GET of a charge); the Keybrake reason when denied.</summary>
    public async Task<Denied?> ReadChargeAsync(string chargeId)
    {
        try
        {
            await new ChargeService(Stripe).GetAsync(chargeId);
            return null;
        }
        catch (StripeException denied) when (denied.StripeError?.Code?.StartsWith("keybrake_", StringComparison.Ordinal) == true)
        {
            return new Denied(denied.StripeError.Code["keybrake_".Length..], denied.Message + " " + denied.StripeError.Message + " " + denied);
        }
    }

    public ValueTask DisposeAsync() => _host.DisposeAsync();

    /// <summary>A denial: its reason code, and everything the exception said (to search for secrets).</summary>
    internal sealed record Denied(string Reason, string Text);
}
