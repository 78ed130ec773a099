using System.Text;
using Keybrake.Client.TestUtilities.Stripe;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Stripe;

namespace Keybrake.Client.Stripe.Tests;

public sealed class WiringTests
{
    private const string Settings = """
        {
          "Keybrake": {
            "Keys": {
              "refund-agent": {
                "BrakeKey": "vault_key_from_configuration_0000001",
                "Vendor": "stripe",
                "VendorSecret": "sk_test_from_configuration",
                "Policy": {
                  "DailyCap": "100.00",
                  "PerRequestMax": "$25",
                  "TimeZone": "Europe/Paris",
                  "Endpoints": { "Allow": [ "POST /v1/refunds", "POST /v1/charges", "GET /v1/**" ], "Deny": [ "* /v1/payouts/**" ] },
                  "Scope": { "customers": [ "cus_allowed" ] },
                  "LoopBreaker": { "MaxRepeats": 5, "Window": "00:02:00" }
                }
              }
            },
            "Stripe": { "UsdRates": { "jpy": "0.0070" } }
          }
        }
        """;

    [Test]
    public async Task Keys_and_policies_bind_from_the_Keybrake_configuration_section()
    {
        using var stub = StripeStub.Start();
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder()
            .AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(Settings)))
            .AddInMemoryCollection(new Dictionary<string, string?> { ["Keybrake:Keys:refund-agent:VendorEndpoint"] = stub.Url })
            .Build());

        // The change a user makes to an existing Stripe.net setup:
        services.AddKeybrake()
            .AddStripeClient(o => { o.KeyId = "refund-agent"; o.ApiBase = stub.Url; });

        await using var provider = services.BuildServiceProvider();
        var options = provider.GetRequiredService<IOptions<KeybrakeOptions>>().Value;
        var policy = options.Keys["refund-agent"].Policy;
        var stripe = provider.GetRequiredService<StripeClient>();
        var charge = await new ChargeService(stripe).CreateAsync(new ChargeCreateOptions { Amount = 2000, Currency = "jpy", Customer = "cus_allowed" });
        var overLimit = Assert.ThrowsAsync<StripeException>(() => new ChargeService(stripe).CreateAsync(new ChargeCreateOptions { Amount = 2600, Currency = "usd", Customer = "cus_allowed" }));
        var spend = await provider.GetRequiredService<IKeybrakeAdmin>().GetDailySpendAsync("refund-agent");

        Assert.Multiple(() =>
        {
            Assert.That(policy.DailyCap, Is.EqualTo(Usd.FromDollars(100)));
            Assert.That(policy.PerRequestMax, Is.EqualTo(Usd.FromDollars(25)));
            Assert.That(policy.Endpoints.Allow, Has.Count.EqualTo(3));
            Assert.That(policy.Scope["customers"], Is.EqualTo(new[] { "cus_allowed" }));
            Assert.That(policy.LoopBreaker.Window, Is.EqualTo(TimeSpan.FromMinutes(2)));
            Assert.That(charge.Amount, Is.EqualTo(2000));
            Assert.That(spend.Settled, Is.EqualTo(Usd.FromDollars(14)), "¥2,000 at the configured 0.0070");
            Assert.That(overLimit!.StripeError.Code, Is.EqualTo("keybrake_amount_over_request_limit"));
            Assert.That(stub.Received.Single().Headers["Authorization"], Is.EqualTo("Bearer sk_test_from_configuration"));
        });
    }

    [Test]
    public async Task Calling_AddKeybrake_and_AddStripeClient_twice_is_harmless()
    {
        using var stub = StripeStub.Start();
        var services = new ServiceCollection();
        for (var i = 0; i < 2; i++)
        {
            services.AddKeybrake(o => o.AddKey("agent", key =>
                {
                    key.BrakeKey = "vault_key_twice_registered_000001";
                    key.Vendor = "stripe";
                    key.VendorSecret = "sk_test_twice";
                    key.VendorEndpoint = stub.Url;
                    key.Policy.DailyCap = Usd.FromDollars(10);
                }))
                .AddStripe()
                .AddStripeClient(o => { o.BrakeKey = "vault_key_twice_registered_000001"; o.ApiBase = stub.Url; });
        }

        await using var provider = services.BuildServiceProvider();
        await new ChargeService(provider.GetRequiredService<StripeClient>()).CreateAsync(new ChargeCreateOptions { Amount = 600, Currency = "usd", Source = "tok_visa" });
        var denied = Assert.ThrowsAsync<StripeException>(() =>
            new ChargeService(provider.GetRequiredService<StripeClient>()).CreateAsync(new ChargeCreateOptions { Amount = 600, Currency = "usd", Source = "tok_visa" }));

        Assert.Multiple(() =>
        {
            Assert.That(denied!.StripeError.Code, Is.EqualTo("keybrake_daily_cap_exceeded"), "one guard, one reservation per call: $6 + $6 > $10");
            Assert.That(provider.GetServices<VendorProfile>().Count(), Is.EqualTo(1));
            Assert.That(stub.Received, Has.Count.EqualTo(1));
        });
    }

    [Test]
    public async Task A_validator_of_the_users_own_for_the_Stripe_options_does_not_stop_AddStripe_from_registering()
    {
        using var stub = StripeStub.Start();
        var services = new ServiceCollection();

        // A user adds a rule of their own to Keybrake's Stripe settings before calling AddStripe.
        services.AddSingleton<IValidateOptions<KeybrakeStripeOptions>, UsersOwnStripeRule>();
        services.AddKeybrake(o => o.AddKey("agent", key =>
            {
                key.BrakeKey = "vault_key_users_own_validator_001";
                key.Vendor = "stripe";
                key.VendorSecret = "sk_test_users_own";
                key.VendorEndpoint = stub.Url;
                key.Policy.DailyCap = Usd.FromDollars(10);
            }))
            .AddStripeClient(o => { o.BrakeKey = "vault_key_users_own_validator_001"; o.ApiBase = stub.Url; });

        await using var provider = services.BuildServiceProvider();
        var charge = await new ChargeService(provider.GetRequiredService<StripeClient>()).CreateAsync(new ChargeCreateOptions { Amount = 600, Currency = "usd", Source = "tok_visa" });

        Assert.Multiple(() =>
        {
            Assert.That(provider.GetServices<VendorProfile>().Select(p => p.Vendor), Is.EqualTo(new[] { "stripe" }));
            Assert.That(charge.Amount, Is.EqualTo(600));
            Assert.That(stub.Received.Single().Headers["Authorization"], Is.EqualTo("Bearer sk_test_users_own"), "the guard swapped the brake key for the secret");
        });
    }

    private sealed class UsersOwnStripeRule : IValidateOptions<KeybrakeStripeOptions>
    {
        public ValidateOptionsResult Validate(string? name, KeybrakeStripeOptions options) => ValidateOptionsResult.Success;
    }

    [Test]
    public async Task Without_dependency_injection_a_console_app_builds_a_guarded_client_from_KeybrakeGuard()
    {
        using var stub = StripeStub.Start();
        await using var keybrake = KeybrakeGuard.Create(k => k
            .Configure(o => o.AddKey("console-agent", key =>
            {
                key.BrakeKey = "vault_key_console_agent_000000001";
                key.Vendor = "stripe";
                key.VendorSecret = "sk_test_console";
                key.VendorEndpoint = stub.Url;
                key.Policy.DailyCap = Usd.FromDollars(5);
            }))
            .AddStripe());
        var stripe = keybrake.CreateStripeClient("vault_key_console_agent_000000001", o => o.ApiBase = stub.Url);

        await new RefundService(stripe).CreateAsync(new RefundCreateOptions { Charge = "ch_1", Amount = 400, Currency = "usd" });
        var denied = Assert.ThrowsAsync<StripeException>(() => new RefundService(stripe).CreateAsync(new RefundCreateOptions { Charge = "ch_2", Amount = 400, Currency = "usd" }));

        var spend = await keybrake.Admin.GetDailySpendAsync("console-agent");
        Assert.Multiple(() =>
        {
            Assert.That(denied!.StripeError.Code, Is.EqualTo("keybrake_daily_cap_exceeded"));
            Assert.That(spend.Settled, Is.EqualTo(Usd.FromDollars(4)));
        });
    }

    [Test]
    public async Task ThrowOnDeny_raises_KeybrakeDeniedException_instead_of_a_vendor_error()
    {
        await using var host = StripeGuardHost.Start(options: o => o.ThrowOnDeny = true);

        var denied = Assert.ThrowsAsync<KeybrakeDeniedException>(() =>
            new ChargeService(host.Stripe).CreateAsync(new ChargeCreateOptions { Amount = 20_000, Currency = "usd", Source = "tok_visa" }));

        Assert.Multiple(() =>
        {
            Assert.That(denied!.Reason, Is.EqualTo(ReasonCodes.DailyCapExceeded));
            Assert.That(denied.KeyId, Is.EqualTo(StripeGuardHost.KeyId));
            Assert.That(denied.StatusCode, Is.EqualTo(402));
            Assert.That(host.Stub.Received, Is.Empty);
        });
    }

    [TestCase("Scope:customer", "0", "cus_1", "Keybrake:Keys:agent:Policy:Scope:customer is not an allowlist stripe knows")]
    [TestCase("Endpoints:Allow", "0", "POST v1/refunds", "Keybrake:Keys:agent:Policy:Endpoints:Allow:0")]
    [TestCase("TimeZone", null, "Mars/Olympus_Mons", "Keybrake:Keys:agent:Policy:TimeZone 'Mars/Olympus_Mons'")]
    [TestCase("DailyCap", null, "12.3456789", "'12.3456789' is not a USD amount")]
    public void An_invalid_policy_fails_at_start_up_with_a_message_that_names_the_field(string field, string? index, string value, string expected)
    {
        var path = index is null ? $"Keybrake:Keys:agent:Policy:{field}" : $"Keybrake:Keys:agent:Policy:{field}:{index}";
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Keybrake:Keys:agent:BrakeKey"] = "vault_key_validation_case_0000001",
            ["Keybrake:Keys:agent:Vendor"] = "stripe",
            ["Keybrake:Keys:agent:VendorSecret"] = "sk_test_validation",
            ["Keybrake:Keys:agent:Policy:DailyCap"] = "100",
            [path] = value,
        }).Build();
        var services = new ServiceCollection().AddSingleton<IConfiguration>(configuration);
        services.AddKeybrake().AddStripe();
        using var provider = services.BuildServiceProvider();

        var error = Assert.Catch(() => _ = provider.GetRequiredService<IOptions<KeybrakeOptions>>().Value);

        Assert.That(error!.ToString(), Does.Contain(expected));
    }

    [Test]
    public void A_key_for_a_vendor_with_no_package_registered_fails_validation()
    {
        var services = new ServiceCollection();
        services.AddKeybrake(o => o.AddKey("sms-agent", key =>
        {
            key.BrakeKey = "vault_key_sms_agent_00000000000001";
            key.Vendor = "twilio";
            key.VendorSecret = "auth-token";
            key.Policy.DailyCap = Usd.FromDollars(5);
        })).AddStripe();
        using var provider = services.BuildServiceProvider();

        var error = Assert.Throws<OptionsValidationException>(() => _ = provider.GetRequiredService<IOptions<KeybrakeOptions>>().Value);

        Assert.That(error!.Message, Does.Contain("Keybrake:Keys:sms-agent:Vendor 'twilio' has no vendor package registered"));
    }
}
