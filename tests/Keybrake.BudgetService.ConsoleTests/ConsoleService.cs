using Grpc.Net.Client;
using Keybrake.Client.TestUtilities.BudgetService;
using Keybrake.Client.TestUtilities.Stripe;
using Keybrake.Protocol;
using Microsoft.Extensions.DependencyInjection;
using Stripe;

namespace Keybrake.BudgetService.ConsoleTests;

/// <summary>
/// The budget service (real Kestrel on loopback, SQLite in a temporary folder) with a Stripe key, <see cref="KeyId"/>,
/// capped at $100 a day, and <see cref="MailerKeyId"/>; a Stripe stand-in; and an agent: Stripe.net through the Keybrake guard in central mode.
/// </summary>
internal sealed class ConsoleService : IAsyncDisposable
{
    public const string KeyId = "agent";
    public const string BrakeKey = "vault_key_console_tests_agent_0001";

    /// <summary>A second key, on another vendor and time zone, that no agent here uses: the pages list more than one.</summary>
    public const string MailerKeyId = "support-mailer";

    private readonly ServiceProvider _agent;
    private readonly string _folder;
    private readonly GrpcChannel _channel;

    private ConsoleService(BudgetServiceHost service, StripeStub stub, ServiceProvider agent, string folder)
    {
        Service = service;
        Stub = stub;
        _agent = agent;
        _folder = folder;
        _channel = GrpcChannel.ForAddress(service.Address);
        Admin = BudgetServiceHost.AdminClient(_channel);
        Budget = BudgetServiceHost.BudgetClient(_channel);
    }

    public BudgetServiceHost Service { get; }

    public StripeStub Stub { get; }

    /// <summary>The admin API over gRPC, with the admin token: what the test checks the console's actions against.</summary>
    public BudgetAdmin.BudgetAdminClient Admin { get; }

    /// <summary>The money path over gRPC, with the test client credential.</summary>
    public Protocol.Budget.BudgetClient Budget { get; }

    /// <summary>The console's address: the admin REST port, <c>/console</c>.</summary>
    public Uri Console => new(Service.RestAddress, "/console");

    public Uri Url(string path) => new(Service.RestAddress, path);

    public static async Task<ConsoleService> StartAsync(IDictionary<string, string?>? settings = null, TimeProvider? time = null)
    {
        var stub = StripeStub.Start();
        var all = BudgetServiceHost.Key(KeyId, dailyCap: "100", runCap: "50");
        foreach (var (name, value) in BudgetServiceHost.Key(MailerKeyId, dailyCap: "20", timeZone: "America/New_York", vendor: "resend"))
        {
            all[name] = value;
        }

        all["BudgetService:Console:RefreshInterval"] = "00:00:00.5";
        foreach (var (name, value) in settings ?? new Dictionary<string, string?>())
        {
            all[name] = value;
        }

        BudgetServiceHost service;
        try
        {
            service = await BudgetServiceHost.StartAsync(all, time: time);
        }
        catch
        {
            stub.Dispose();
            throw;
        }

        var folder = Directory.CreateTempSubdirectory("keybrake-console-agent-").FullName;
        var services = new ServiceCollection();
        services.AddKeybrake(o => o.AddKey(KeyId, key =>
            {
                key.BrakeKey = BrakeKey;
                key.Vendor = "stripe";
                key.VendorSecret = "sk_test_51ConsoleTestsSecretThatMustNeverLeak";
                key.VendorEndpoint = stub.Url;
            }))
            .UseBudgetService(o =>
            {
                o.Address = service.Address;
                o.ClientToken = BudgetServiceHost.ClientToken;
                o.OutboxPath = Path.Combine(folder, "outbox.db");
                o.CallTimeout = TimeSpan.FromSeconds(30);
            })
            .AddStripeClient(o =>
            {
                o.BrakeKey = BrakeKey;
                o.ApiBase = stub.Url;
            });
        return new ConsoleService(service, stub, services.BuildServiceProvider(), folder);
    }

    /// <summary>A charge through the guard: the Keybrake reason when denied, or <see langword="null"/> when it went through.</summary>
    public async Task<string?> ChargeAsync(long cents)
    {
        try
        {
            await new ChargeService(_agent.GetRequiredService<StripeClient>()).CreateAsync(new ChargeCreateOptions { Amount = cents, Currency = "usd", Source = "tok_visa" });
            return null;
        }
        catch (StripeException denied) when (denied.StripeError?.Code?.StartsWith("keybrake_", StringComparison.Ordinal) == true)
        {
            return denied.StripeError.Code["keybrake_".Length..];
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _agent.DisposeAsync();
        _channel.Dispose();
        await Service.DisposeAsync();
        Stub.Dispose();
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
